"""DATA_DIR holds everything the product writes (issue 15, item 4): the default SQLite database, the
generated development SECRET_KEY, backups, metrics and the embedded broker."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tradebot.config import BASE_DIR, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_database_key_and_backups_default_to_places_in_data_dir(tmp_path):
    config = load_config({"DATA_DIR": str(tmp_path)})
    assert config.DATA_DIR == tmp_path
    assert config.DATABASE_URL == f"sqlite:///{tmp_path / 'tradebot.sqlite3'}"
    assert config.DB_BACKUP_DIR == tmp_path / "backups"
    assert (tmp_path / ".secret_key").read_text().strip() == config.SECRET_KEY
    assert load_config({"DATA_DIR": str(tmp_path)}).SECRET_KEY == config.SECRET_KEY  # made once, then read


def test_a_relative_data_dir_starts_at_the_project_folder_and_the_defaults_follow_it():
    config = load_config({"DATA_DIR": "data", "SECRET_KEY": "x" * 50})
    assert config.DATA_DIR == BASE_DIR / "data"
    assert config.DATABASE_URL == "sqlite:///data/tradebot.sqlite3"  # the contract's default
    assert config.DB_BACKUP_DIR == BASE_DIR / "data" / "backups"


def test_named_database_backups_and_key_win_over_data_dir(tmp_path):
    config = load_config(
        {
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": "postgres://u@h/db",
            "DB_BACKUP_DIR": str(tmp_path / "elsewhere"),
            "SECRET_KEY": "k" * 50,
        }
    )
    assert config.DATABASE_URL == "postgres://u@h/db"
    assert config.DB_BACKUP_DIR == tmp_path / "elsewhere"
    assert config.SECRET_KEY == "k" * 50 and not (tmp_path / "data" / ".secret_key").exists()
    assert load_config({"DATA_DIR": str(tmp_path), "DB_PATH": "/tmp/x.sqlite3"}).DATABASE_URL == (
        "sqlite:////tmp/x.sqlite3"
    )


@pytest.mark.slow
def test_a_fresh_data_dir_receives_database_key_backups_metrics_and_broker(tmp_path):
    """Real processes with only DATA_DIR set: migrate, then a backup; every file lands under DATA_DIR."""
    data = tmp_path / "data"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATA_DIR": str(data),
        "MODE": "paper",
        # empty = the default (a developer's .env must not decide where this run writes)
        **dict.fromkeys(["DATABASE_URL", "DB_PATH", "DB_BACKUP_DIR", "SECRET_KEY", "REDIS_URL"], ""),
    }
    for command in (["migrate", "--no-input"], ["backup_db"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert (data / "tradebot.sqlite3").stat().st_size > 0
    assert len((data / ".secret_key").read_text().strip()) >= 50
    assert list((data / "backups").glob("tradebot-*.sqlite3"))
    assert (data / "prometheus").is_dir()
    assert (data / "celery-broker" / "out").is_dir()
