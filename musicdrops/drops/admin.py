"""The daily email's ledger in the admin, to answer "did I get my email?"; read-only: a hand edit breaks it."""

from django.contrib import admin

from musicdrops.admin import ReadOnlyAdmin
from musicdrops.drops.models import Delivery, DropSend


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("period", "user", "status", "slot", "queued_at", "sent_at", "error")
    list_select_related = ("user",)
    list_filter = ("status", "day")
    search_fields = ("user__email", "=message_id")
    ordering = ("-pk",)


@admin.register(DropSend)
class DropSendAdmin(ReadOnlyAdmin):
    list_display = ("slot", "started_at", "queued", "cursor", "fanned_out_at")
    date_hierarchy = "slot"
