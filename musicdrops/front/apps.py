from django.apps import AppConfig


class FrontConfig(AppConfig):
    name = "musicdrops.front"
    verbose_name = "Front"
