"""scripts/check_architecture.sh runs the import contracts of .importlinter (issue 17, item 6; the layers of
issue 13): they hold today, and a forbidden import breaks them by name."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_contracts_hold_today():
    done = subprocess.run(
        ["bash", "scripts/check_architecture.sh"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    declared = (ROOT / ".importlinter").read_text().count("\n[importlinter:contract:")
    assert declared >= 7  # layers, peers, core/interfaces, ccxt, api, simulator, notifications
    assert f"Contracts: {declared} kept, 0 broken." in done.stdout


def _lint_with(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess:
    """lint-imports on a copy of apps/ and tradebot/ where `module` (a path under apps/) gained `line`."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "migrations")
    for package in ("apps", "tradebot"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    with (tmp_path / "apps" / module).open("a") as source:
        source.write(f"\n{line}  # a violation\n")
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "lint-imports"), ".importlinter"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ccxt_outside_apps_exchange_breaks_its_contract(tmp_path):
    done = _lint_with(tmp_path, "trading/selectors.py", "import ccxt")
    assert done.returncode == 1, done.stdout
    assert "ccxt is imported only in apps.exchange BROKEN" in done.stdout
    assert "apps.trading.selectors -> ccxt" in done.stdout


def test_trading_importing_risk_breaks_the_layers(tmp_path):
    done = _lint_with(tmp_path, "trading/services.py", "import apps.risk.services")
    assert done.returncode == 1, done.stdout
    assert "layers, one direction: each layer imports only from the layers below it BROKEN" in done.stdout
    assert "apps.trading.services -> apps.risk.services" in done.stdout


def test_exits_importing_reconciliation_breaks_the_peers(tmp_path):
    done = _lint_with(tmp_path, "exits/services.py", "import apps.reconciliation.services")
    assert done.returncode == 1, done.stdout
    assert "never import each other" in done.stdout and "BROKEN" in done.stdout
