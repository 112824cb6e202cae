"""Database backups: SQLite's online backup API or pg_dump, pruned to DB_BACKUP_KEEP, and a restore."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone

from apps.monitoring import metrics

log = logging.getLogger(__name__)
PREFIX = "tradebot-"


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    pruned: list[Path]


def _db() -> dict:
    return connections["default"].settings_dict


def _vendor() -> str:
    return connections["default"].vendor


def backup_create(
    *, now: datetime | None = None, directory: Path | None = None, keep: int | None = None
) -> BackupResult:
    """Write one consistent backup now (the database stays online) and prune old ones."""
    try:
        result = _backup_write(now=now, directory=directory, keep=keep)
    except Exception:
        metrics.BACKUP_RUNS.labels(status="failed").inc()
        raise
    metrics.BACKUP_RUNS.labels(status="ok").inc()
    metrics.BACKUP_SIZE.set(result.size_bytes)
    metrics.BACKUP_AGE.set(0)
    metrics.BACKUP_LAST_SUCCESS.set(result.path.stat().st_mtime)
    return result


def _backup_write(*, now: datetime | None, directory: Path | None, keep: int | None) -> BackupResult:
    directory = Path(directory or settings.DB_BACKUP_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = (now or timezone.now()).strftime("%Y%m%d-%H%M%S-%f")
    if _vendor() == "sqlite":
        target = directory / f"{PREFIX}{stamp}.sqlite3"
        partial = target.with_suffix(".partial")
        source = sqlite3.connect(_db()["NAME"], timeout=30)
        dest = sqlite3.connect(partial)
        try:
            source.backup(dest)
        finally:
            dest.close()
            source.close()
    elif _vendor() == "postgresql":
        target = directory / f"{PREFIX}{stamp}.pgdump"
        partial = target.with_suffix(".partial")
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={partial}", *_pg_args()])
    else:
        raise BackupError(f"backups are not supported for the {_vendor()} database")
    partial.replace(target)  # a crash mid-backup never leaves a file that looks complete
    pruned = _prune(directory, keep or settings.DB_BACKUP_KEEP)
    size = target.stat().st_size
    log.info("database backup written to %s", target)
    return BackupResult(path=target, size_bytes=size, pruned=pruned)


def backup_restore(*, path: Path) -> None:
    """Replace the current database's contents with a backup. Stop workers and web first."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} is not a backup file")
    connections.close_all()
    if _vendor() == "sqlite":
        if path.suffix != ".sqlite3":
            raise BackupError(f"{path} is not a SQLite backup")
        source = sqlite3.connect(path)
        dest = sqlite3.connect(_db()["NAME"], timeout=30)
        try:
            source.backup(dest)
        finally:
            dest.close()
            source.close()
    elif _vendor() == "postgresql":
        if path.suffix != ".pgdump":
            raise BackupError(f"{path} is not a PostgreSQL backup")
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                *_pg_args(dbname_flag=True),
                str(path),
            ]
        )
    else:
        raise BackupError(f"restore is not supported for the {_vendor()} database")


def backups_list(directory: Path | None = None) -> list[Path]:
    directory = Path(directory or settings.DB_BACKUP_DIR)
    if not directory.exists():
        return []
    return sorted((p for p in directory.glob(f"{PREFIX}*") if p.suffix in (".sqlite3", ".pgdump")), reverse=True)


def _prune(directory: Path, keep: int) -> list[Path]:
    old = backups_list(directory)[keep:]
    for path in old:
        path.unlink(missing_ok=True)
    return old


def _pg_args(dbname_flag: bool = False) -> list[str]:
    db = _db()
    args = ["--host", db.get("HOST") or "127.0.0.1", "--port", str(db.get("PORT") or 5432)]
    if db.get("USER"):
        args += ["--username", db["USER"]]
    args += ["--dbname", db["NAME"]] if dbname_flag else [db["NAME"]]
    return args


def _run(cmd: list[str]) -> None:
    if shutil.which(cmd[0]) is None:
        raise BackupError(f"{cmd[0]} is not installed (needed for PostgreSQL backups)")
    env = dict(os.environ)
    if _db().get("PASSWORD"):
        env["PGPASSWORD"] = _db()["PASSWORD"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise BackupError(f"{cmd[0]} failed: {result.stderr.strip()[:500]}")
