"""scripts/check_architecture.sh runs the import contracts of .importlinter (issue 17, item 6): they hold
today, and a forbidden import breaks them by name."""

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
    assert "Contracts: 3 kept, 0 broken." in done.stdout


def test_ccxt_outside_apps_exchange_breaks_its_contract(tmp_path):
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "migrations")
    for package in ("apps", "tradebot"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    with (tmp_path / "apps" / "trading" / "selectors.py").open("a") as module:
        module.write("\nimport ccxt  # a violation\n")
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "lint-imports"), "--config", ".importlinter"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout
    assert "ccxt is imported only in apps.exchange BROKEN" in done.stdout
    assert "apps.trading.selectors -> ccxt" in done.stdout
