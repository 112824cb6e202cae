"""The report pages' query forms (GET): bad input is said next to its field, never a 500."""

from __future__ import annotations

from django import forms
from django.conf import settings

from apps.reports.selectors import COUNT_MAX, PERIODS, ReportInputError, zone_parse

COMMON_ZONES = (
    "UTC", "Europe/London", "Europe/Berlin", "Europe/Moscow", "America/New_York", "America/Chicago",
    "America/Los_Angeles", "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney",
)  # fmt: skip
PERIOD_DEFAULT_COUNT = {"day": 30, "week": 12, "month": 12}


class PnlForm(forms.Form):
    period = forms.ChoiceField(choices=[(p, p) for p in PERIODS], initial="day", required=False)
    count = forms.IntegerField(
        label="N", min_value=1, max_value=COUNT_MAX, required=False, help_text="periods back, the current included"
    )
    tz = forms.CharField(
        label="Time zone",
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs={"list": "tb-zones", "size": 18}),
        help_text="IANA name, e.g. Europe/Berlin",
    )

    def clean_tz(self) -> str:
        name = (self.cleaned_data.get("tz") or "").strip() or settings.DISPLAY_TIMEZONE
        try:
            zone_parse(name)
        except ReportInputError as exc:
            raise forms.ValidationError(str(exc)) from None
        return name

    def clean_period(self) -> str:
        return self.cleaned_data.get("period") or "day"

    def clean(self):
        data = super().clean()
        if "period" in data and not data.get("count"):
            data["count"] = PERIOD_DEFAULT_COUNT[data["period"]]
        return data


class TradesForm(forms.Form):
    symbol = forms.CharField(max_length=32, required=False)
    page = forms.IntegerField(min_value=1, required=False)
