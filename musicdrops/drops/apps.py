from django.apps import AppConfig


class DropsConfig(AppConfig):
    name = "musicdrops.drops"
    verbose_name = "Daily drops"
