from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "musicdrops.catalog"
    verbose_name = "Catalog"
