"""Admin building blocks shared by every app."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    """For data that comes from the exchange or the audit trail: viewable, never edited in the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyTabularInline(admin.TabularInline):
    """Rows shown under their parent (fills under an order, discrepancies under a run), never edited."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.fields or [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
