from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "musicdrops.accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from musicdrops.accounts import throttle  # noqa: F401 (connects the log-in signals)
