"""Artists, follows and imports in the admin, to look things up when someone writes in.

Read-only (MusicBrainz's data, or the users' own), except that a follow can be removed for a user who asks.
"""

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from musicdrops.admin import ReadOnlyAdmin
from musicdrops.catalog.models import Artist, Follow, ImportJob


@admin.register(Artist)
class ArtistAdmin(ReadOnlyAdmin):
    list_display = ("name", "disambiguation", "mbid", "followers", "synced_at", "searched_at", "browse_wanted_at")
    search_fields = ("name", "=mbid")
    list_filter = (("synced_at", admin.EmptyFieldListFilter), ("browse_wanted_at", admin.EmptyFieldListFilter))
    ordering = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Artist]:
        artists: QuerySet[Artist] = super().get_queryset(request)
        return artists.annotate(follower_count=Count("follows"))

    @admin.display(description="followers", ordering="follower_count")
    def followers(self, artist: Any) -> int:
        return int(artist.follower_count)


@admin.register(Follow)
class FollowAdmin(ReadOnlyAdmin):
    list_display = ("user", "artist", "created_at")
    list_select_related = ("user", "artist")
    search_fields = ("user__email", "artist__name", "=artist__mbid")
    date_hierarchy = "created_at"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super(ReadOnlyAdmin, self).has_delete_permission(request, obj)


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "source", "status", "finished_at", "message")
    list_select_related = ("user",)
    list_filter = ("status", "source")
    search_fields = ("user__email",)
    date_hierarchy = "created_at"
