"""CSV export in the admin: an "Export CSV" link on the changelists of orders, fills and positions that honours
the list's current filters, search and date drill-down, and the same export as an action on the selected rows.
Both stream the lines of apps.reports.exports (the writer the API's /api/exports/*.csv uses)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IS_POPUP_VAR, IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse

from apps.reports.exports import export_csv_lines


def csv_response(kind: str, queryset: QuerySet) -> StreamingHttpResponse:
    response = StreamingHttpResponse(export_csv_lines(kind=kind, queryset=queryset), content_type="text/csv")
    response["Content-Type"] = "text/csv; charset=utf-8"
    response["Content-Disposition"] = f'attachment; filename="tradebot-{kind}.csv"'
    return response


class CsvExportMixin(admin.ModelAdmin):
    """Before a ModelAdmin's other bases: `csv_export = "orders" | "fills" | "trades"` (apps.reports.exports.EXPORTS).
    Adds `<changelist>/export.csv?<the list's query string>` (linked from the changelist) and the action
    "Export selected as CSV". Anyone who may view the list may export it."""

    csv_export: str = ""
    change_list_template = "admin/reports/change_list_export.html"

    def _url_name(self, view: str) -> str:
        return f"{self.model._meta.app_label}_{self.model._meta.model_name}_{view}"

    def get_urls(self):
        export = path("export.csv", self.admin_site.admin_view(self.export_csv_view), name=self._url_name("export"))
        return [export, *super().get_urls()]

    def export_csv_view(self, request: HttpRequest):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)  # the list's filters, search, date hierarchy
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse(f"admin:{self._url_name('changelist')}") + "?e=1")
        return csv_response(self.csv_export, changelist.get_queryset(request))

    @admin.action(description="Export selected as CSV")
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet):
        return csv_response(self.csv_export, queryset)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if self.actions is not None and IS_POPUP_VAR not in request.GET and self.has_view_or_change_permission(request):
            actions["export_selected_csv"] = self.get_action("export_selected_csv")
        return actions

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        url = reverse(f"admin:{self._url_name('export')}")
        query = request.GET.urlencode()
        context = {"csv_export_url": f"{url}?{query}" if query else url, **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)
