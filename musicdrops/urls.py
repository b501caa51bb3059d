from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("musicdrops.front.urls")),
    path("accounts/", include("musicdrops.accounts.urls")),
    path("library/", include("musicdrops.catalog.urls")),
    path("drops/", include("musicdrops.drops.urls")),
    path("feeds/", include("musicdrops.feeds.urls")),
    path("jobs/", include("musicdrops.jobs.urls")),
    path("", include("musicdrops.ops.urls")),
    path("admin/", admin.site.urls),
]
