"""The console's forms: starting a backtest. Validation of the request itself is the backtest service's."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings

from tradebot.config import TIMEFRAMES

PARAMETER_FIELDS = (
    ("stop_loss_pct", "Stop-loss %"),
    ("take_profit_pct", "Take-profit %"),
    ("entry_threshold", "Entry threshold"),
    ("exit_threshold", "Exit threshold"),
    ("initial_cash", "Initial cash (quote)"),
    ("fee_pct", "Fee %"),
)


class BacktestStartForm(forms.Form):
    symbol = forms.CharField(max_length=32, help_text="a unified symbol such as BTC/USDT")
    timeframe = forms.ChoiceField(choices=[(t, t) for t in TIMEFRAMES])
    since = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="exchange history from (in the display time zone)",
    )
    until = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="exchange history until",
    )
    csv = forms.FileField(
        required=False,
        label="or a CSV file",
        help_text="time,open,high,low,close,volume rows instead of a date range (runs at once)",
    )
    stop_loss_pct = forms.DecimalField(required=False, label="Stop-loss %")
    take_profit_pct = forms.DecimalField(required=False, label="Take-profit %")
    entry_threshold = forms.FloatField(required=False, label="Entry threshold")
    exit_threshold = forms.FloatField(required=False, label="Exit threshold")
    initial_cash = forms.DecimalField(required=False, label="Initial cash (quote)")
    fee_pct = forms.DecimalField(required=False, label="Fee %")
    other = forms.CharField(
        required=False,
        label="Other parameters (JSON)",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text='e.g. {"weights": {"ema": 0.5, "rsi": 0.5}, "window": 300}',
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["symbol"].initial = settings.SYMBOLS[0] if settings.SYMBOLS else "BTC/USDT"
        self.fields["timeframe"].initial = settings.TIMEFRAME

    def clean_other(self) -> dict[str, Any]:
        text = (self.cleaned_data.get("other") or "").strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not JSON: {exc.msg} at character {exc.pos}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("must be a JSON object")
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        has_csv = bool(data.get("csv"))
        has_range = bool(data.get("since") or data.get("until"))
        if has_csv and has_range:
            raise forms.ValidationError("give a date range or a CSV file, not both")
        if not has_csv and not (data.get("since") and data.get("until")):
            raise forms.ValidationError("give both dates of a range, or a CSV file")
        return data

    def parameters(self) -> dict[str, Any]:
        """The overrides the operator gave (empty fields follow the live settings)."""
        params = dict(self.cleaned_data.get("other") or {})
        for name, _ in PARAMETER_FIELDS:
            value = self.cleaned_data.get(name)
            if value is not None:
                params[name] = str(value) if not isinstance(value, float) else value
        return params
