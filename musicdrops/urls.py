from anymail.urls import urlpatterns as anymail_urlpatterns
from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from musicdrops.accounts.webhooks import webhook_guard


def _webhooks() -> list:  # type: ignore[type-arg]
    """The tracking webhook of the provider EMAIL_URL names, once its webhook secret is set; nothing else.

    anymail's views accept unauthenticated posts (with a warning) when no
    secret is set, and fail with a 500 for a signing provider without its
    key: neither is served.
    """
    if not settings.EMAIL_PROVIDER or not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return []
    name = {"ses": "amazon_ses"}.get(settings.EMAIL_PROVIDER, settings.EMAIL_PROVIDER) + "_tracking_webhook"
    return [
        path(str(pattern.pattern), webhook_guard(pattern.callback), name=pattern.name)
        for pattern in anymail_urlpatterns
        if pattern.name == name
    ]


urlpatterns = [
    path("", include("musicdrops.front.urls")),
    path("accounts/", include("musicdrops.accounts.urls")),
    path("library/", include("musicdrops.catalog.urls")),
    path("drops/", include("musicdrops.drops.urls")),
    path("feeds/", include("musicdrops.feeds.urls")),
    path("jobs/", include("musicdrops.jobs.urls")),
    path("", include("musicdrops.ops.urls")),
    path("anymail/", include((_webhooks(), "anymail"))),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico where a page names no icon (a feed, a JSON answer): no 404 for it.
    path("favicon.ico", RedirectView.as_view(url=settings.STATIC_URL + "favicon.svg", permanent=True)),
]
