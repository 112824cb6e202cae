"""Shared by bench/order_overhead.py and bench/exits.py: which database a bench writes to, and what SQL a piece
of work runs (statements, transactions, repeated reads of the same rows)."""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url(default_sqlite: Path) -> str:
    """BENCH_DATABASE_URL, else DATABASE_URL, else a SQLite file at `default_sqlite`. The database name must
    contain "bench": a bench writes live-venue orders and the exits bench empties the books, which must never
    happen to a real database. A PostgreSQL bench database that does not exist yet is created."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or f"sqlite:///{default_sqlite}"
    import dj_database_url

    name = str(dj_database_url.parse(url)["NAME"])
    if "bench" not in Path(name).name:
        sys.exit(
            f"refusing to write bench orders into {name!r}: use a database whose name contains 'bench', e.g.\n"
            f"  DATABASE_URL=sqlite:///data/bench.sqlite3 or postgres://postgres@127.0.0.1:5432/tb_bench"
        )
    if url.startswith(("postgres://", "postgresql://")):
        _create_pg_database(url, name)
    elif name:
        Path(name).parent.mkdir(parents=True, exist_ok=True)
    return url


def _create_pg_database(url: str, name: str) -> None:
    import dj_database_url
    import psycopg
    from psycopg import sql

    cfg = dj_database_url.parse(url)
    params = {"host": cfg["HOST"] or None, "port": cfg["PORT"] or None, "user": cfg["USER"] or None}
    params = {k: v for k, v in params.items() if v}
    if cfg["PASSWORD"]:
        params["password"] = cfg["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', re.IGNORECASE)


@dataclass
class SqlCount:
    statements: int = 0
    transactions: int = 0
    log: list[tuple[str, str]] = field(default_factory=list)  # (label, sql) in order
    reads: Counter = field(default_factory=Counter)  # (sql, params) of every SELECT

    @property
    def repeated_selects(self) -> int:
        """SELECTs that read exactly what an earlier SELECT of the same work read (same SQL, same values)."""
        return sum(n - 1 for n in self.reads.values() if n > 1)

    def by_kind(self) -> Counter:
        return Counter(label for label, _ in self.log if label not in ("SAVEPOINT", "RELEASE"))

    def summary(self) -> str:
        kinds = ", ".join(f"{n}× {k}" for k, n in sorted(self.by_kind().items(), key=lambda kv: -kv[1]))
        return kinds


def label_of(sql: str) -> str:
    text = sql.lstrip()
    verb = text.split(" ", 1)[0].upper()
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN"):
        return verb
    match = _TABLE.search(text)
    table = match.group(1) if match else "?"
    if verb == "SELECT" and " FOR UPDATE" in text.upper():
        verb = "SELECT … FOR UPDATE"
    return f"{verb} {table}"


def count_sql(work, *, show: bool | None = None) -> SqlCount:
    """The SQL statements `work()` runs (SAVEPOINT / RELEASE included: they are round trips too; SQLite's BEGIN
    not, as PostgreSQL's is not seen either) and the transactions it commits: explicit commits (the outermost
    atomic blocks) plus writes made outside any block (each its own transaction in autocommit). Connections
    opened during the work (threads it starts) are counted too. BENCH_SHOW_SQL=1 prints every statement."""
    import threading

    from django.db import connection
    from django.db.backends.signals import connection_created

    show = bool(os.environ.get("BENCH_SHOW_SQL")) if show is None else show
    counts = SqlCount()
    lock = threading.Lock()

    def wrapper(execute, sql, params, many, context):
        conn = context["connection"]
        label = label_of(sql)
        if label == "BEGIN":  # SQLite's explicit BEGIN; psycopg opens PostgreSQL's transactions unseen
            return execute(sql, params, many, context)
        autocommit = conn.get_autocommit()
        with lock:
            counts.statements += 1
            counts.log.append((("[autocommit] " if autocommit else "") + label, sql))
            if show:
                print("   SQL", ("[autocommit] " if autocommit else "") + sql[:160])
            if label.startswith("SELECT"):
                counts.reads[(_rows_read(sql), repr(params))] += 1
            if autocommit and label.split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE"):
                counts.transactions += 1
        return execute(sql, params, many, context)

    patched = []

    def watch(conn) -> None:
        commit = conn.commit

        def counted_commit():
            with lock:
                counts.transactions += 1
            return commit()

        conn.commit = counted_commit
        conn.execute_wrappers.append(wrapper)
        patched.append(conn)

    def on_created(sender, connection, **kwargs) -> None:
        if connection not in patched:
            watch(connection)

    watch(connection)
    connection_created.connect(on_created)
    try:
        work()
    finally:
        connection_created.disconnect(on_created)
        for conn in patched:
            del conn.commit
            conn.execute_wrappers.remove(wrapper)
    return counts


def _rows_read(sql: str) -> str:
    """What rows a SELECT reads, whatever columns it takes and whether it locks them: its text from FROM on."""
    text = sql.upper()
    start = text.find(" FROM ")
    tail = sql[start:] if start >= 0 else sql
    return re.sub(r"\s+FOR UPDATE.*$|\s+LIMIT\s+\d+", "", tail, flags=re.IGNORECASE)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"
