"""What the ops tests need from PromQL: the metric names an expression reads, and the families they belong to."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from apps.monitoring import metrics

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "ops" / "prometheus"
# written by Prometheus itself for every target
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?")
_SUFFIXES = ("_bucket", "_count", "_sum", "_created", "_total")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (function names, keywords, label names and durations left out)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _GROUPING.sub("", text)
    text = _RANGE.sub("", text)
    names = set()
    for name, call in _IDENT.findall(text):
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def defined_family(name: str) -> object | None:
    """The apps.monitoring.metrics family behind an exported series name (counter _total, histogram parts)."""
    candidates = [name] + [name.removesuffix(s) for s in _SUFFIXES if name.endswith(s)]
    for candidate in candidates:
        found = metrics.family(candidate)
        if found is not None:
            return found
    return None


def undefined(names: set[str]) -> set[str]:
    return {name for name in names if name not in PROMETHEUS_OWN and defined_family(name) is None}


def alert_rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def promtool() -> str:
    """promtool (Debian's `prometheus` package; .ci/run installs it when missing)."""
    path = shutil.which("promtool")
    if path is None:
        if __import__("os").environ.get("TEST_REQUIRE_SERVICES") == "1":
            pytest.fail("promtool is missing: apt-get install prometheus")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def run_promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=300)
