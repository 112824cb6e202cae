"""The PnL chart of /profit: cumulative realized PnL (equity) with its running peak, as PNG bytes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from io import BytesIO
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def equity_chart_png(curve: list[tuple[datetime, Decimal]], *, title: str, currency: str = "USDT") -> bytes:
    """Draw `curve` (time, cumulative PnL) into a PNG.

    A bare Figure on the Agg canvas, not pyplot: no global state, safe in threads and without a display."""
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if curve:
        # matplotlib plots datetimes through its units registry; its stubs only name arrays of numbers.
        times: Any = [moment for moment, _ in curve]
        equity = [float(value) for _, value in curve]
        peak, running = [], float("-inf")
        for value in equity:
            running = max(running, value)
            peak.append(running)
        axes.step(times, equity, where="post", color="tab:blue", linewidth=1.8, label="cumulative PnL")
        axes.step(times, peak, where="post", color="tab:gray", linewidth=1, linestyle="--", label="peak")
        axes.fill_between(
            times,
            equity,
            0,
            step="post",
            where=[v >= 0 for v in equity],
            color="tab:green",
            alpha=0.2,
            interpolate=False,
        )
        axes.fill_between(
            times, equity, 0, step="post", where=[v < 0 for v in equity], color="tab:red", alpha=0.2, interpolate=False
        )
        axes.legend(loc="upper left")
        figure.autofmt_xdate()
    else:
        axes.text(0.5, 0.5, "no closed trades yet", ha="center", va="center", transform=axes.transAxes)
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_title(title)
    axes.set_ylabel(currency)
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    buffer = BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
