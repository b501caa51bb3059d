from functools import cached_property
from typing import Any, cast

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest


class CappedPaginator(Paginator):
    """Counts no further than the pages one could click through: a count of a big table reads all of it."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return cast("QuerySet[Any]", self.object_list)[: self.CAP].count()  # the admin pages query sets


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the app writes (a ledger, a log, a job's outcome): to read, never to edit by hand."""

    paginator = CappedPaginator
    show_full_result_count = False  # "3 of 1,000,000": the second count reads the whole table

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
