from django.apps import AppConfig


class FeedsConfig(AppConfig):
    name = "musicdrops.feeds"
    verbose_name = "Private feeds"
