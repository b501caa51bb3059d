from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "musicdrops.ops"
    verbose_name = "Operations"
