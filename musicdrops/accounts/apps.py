from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "musicdrops.accounts"
    verbose_name = "Accounts"
