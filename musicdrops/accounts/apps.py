from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "musicdrops.accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from anymail.signals import tracking

        from musicdrops.accounts import throttle  # noqa: F401 (connects the log-in signals)
        from musicdrops.accounts.suppression import on_tracking

        # Bounces, complaints and unsubscribes from the email provider's webhooks (anymail's URLs under /anymail/).
        tracking.connect(on_tracking, dispatch_uid="musicdrops-suppression")
