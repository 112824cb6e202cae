"""Admin building blocks shared by every app."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib import admin
from django.http import HttpRequest

from apps.console.columns import FormattedDecimalsMixin


class ReadOnlyAdmin(FormattedDecimalsMixin, admin.ModelAdmin):
    """For data that comes from the exchange or the audit trail: opens as "View …" with no save button,
    never edited in the admin; Decimal fields shown as money."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_fields(self, request: HttpRequest, obj=None):
        if self.fields or self.fieldsets:
            return super().get_fields(request, obj)
        names = [f.name for f in self.model._meta.fields if f.name != "id" and not f.auto_created]
        names += [f.name for f in self.model._meta.many_to_many]
        return self.formatted(names)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if self.fieldsets:
            return [(title, {**opts, "fields": self.formatted(opts["fields"])}) for title, opts in self.fieldsets]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return [name for _, opts in self.get_fieldsets(request, obj) for name in _flat(opts["fields"])]


def _flat(fields: Sequence[str | Sequence[str]]) -> list[str]:
    out: list[str] = []
    for name in fields:
        if isinstance(name, str):
            out.append(name)
        else:
            out.extend(name)
    return out


class ReadOnlyTabularInline(FormattedDecimalsMixin, admin.TabularInline):
    """Rows shown under their parent (fills under an order, discrepancies under a run), never edited."""

    extra = 0
    can_delete = False

    def get_fields(self, request: HttpRequest, obj=None):
        return self.formatted(self.fields or [f.name for f in self.model._meta.fields if f.name != "id"])

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.get_fields(request, obj)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
