"""Counting into the metric families `apps.monitoring.metrics` defines, by name.

The families belong to the monitoring app; the bot only increments them. A missing family is skipped, so the
bot never fails because of a metric.
"""

from __future__ import annotations

import logging

from apps.monitoring import metrics

logger = logging.getLogger(__name__)


def metric_inc(family: str, **labels: str) -> None:
    """Increment `apps.monitoring.metrics.<family>` with `labels`, if that family exists."""
    counter = getattr(metrics, family, None)
    if counter is None:
        return
    try:
        (counter.labels(**labels) if labels else counter).inc()
    except Exception:  # a label mismatch must not break an alert or a command
        logger.debug("metric %s not incremented", family, exc_info=True)
