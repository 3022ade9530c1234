"""Shared machinery: database setup, interleaved timing, figures with their bars.

Each area module runs in its own process (``python -m benchmarks.<area> --db ...``)
so Django is configured for one database engine at a time. Figures are printed
as they are measured and appended as JSON lines to ``BENCH_RESULTS`` for the
runner's summary.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

PG_ADMIN_URL = "postgresql://postgres:postgres@127.0.0.1:5432/postgres"


@dataclass
class Figure:
    area: str
    name: str
    setup: str
    values: dict[str, str]
    ratio: float
    bar: str
    passed: bool
    notes: list[str] = field(default_factory=list)


_figures: list[Figure] = []


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def figure(
    area: str,
    name: str,
    *,
    setup: str,
    values: dict[str, str],
    ratio: float,
    bar: str,
    passed: bool,
    notes: list[str] | None = None,
) -> Figure:
    """Print one figure (setup, values, ratio, bar, PASS/FAIL) and remember it."""
    fig = Figure(area, name, setup, values, ratio, bar, passed, notes or [])
    _figures.append(fig)
    print(f"\n[{area}] {name}", flush=False)
    print(f"  setup : {setup}")
    for label, value in values.items():
        print(f"  {label:<44} {value}")
    for note in fig.notes:
        print(f"  note  : {note}")
    print(f"  ratio : {ratio:.3f}   bar: {bar}   => {'PASS' if passed else 'FAIL'}", flush=True)
    out = os.environ.get("BENCH_RESULTS")
    if out:
        with open(out, "a") as fh:
            fh.write(json.dumps({**asdict(fig), "db": os.environ.get("BENCH_DB", "-")}) + "\n")
    return fig


def finish() -> int:
    """Exit status of an area process: 1 when any of its bars failed."""
    return 0 if all(f.passed for f in _figures) else 1


def interleaved(
    cases: dict[str, Callable[[], Any]],
    rounds: int,
    before_each: Callable[[], Any] | None = None,
) -> dict[str, float]:
    """Median seconds of each case, run A B A B ... for ``rounds`` rounds.

    ``before_each`` (e.g. clearing a cache) runs untimed before every sample.
    The garbage collector runs between samples, never inside one.
    """
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            if before_each is not None:
                before_each()
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                fn()
                samples[name].append(time.perf_counter() - start)
            finally:
                gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}


def parse_db(
    argv: list[str] | None = None, choices: tuple[str, ...] = ("sqlite", "postgres")
) -> str:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=choices, default=choices[0])
    return parser.parse_args(argv).db


# -- databases ------------------------------------------------------------------------
def _recreate_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def use_database(db: str, name: str, second_db: bool = False) -> Iterator[str]:
    """Configure Django on a fresh, migrated database (and ``small`` with ``second_db``).

    SQLite: files in a temporary directory. PostgreSQL: databases ``<name>``
    (and ``<name>_small``) on 127.0.0.1, dropped afterwards. Yields a label.
    """
    tmp = tempfile.mkdtemp(prefix="verify_lti_bench_")
    os.environ["BENCH_DB"] = db
    os.environ["BENCH_MEDIA"] = os.path.join(tmp, "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    if second_db:
        os.environ["BENCH_SECOND_DB"] = "1"
    names = [name, f"{name}_small"] if second_db else [name]
    if db == "postgres":
        os.environ["BENCH_PG_URL"] = f"postgres://postgres:postgres@127.0.0.1:5432/{name}"
        for each in names:
            _recreate_pg(each)
    else:
        os.environ["BENCH_SQLITE_PATH"] = os.path.join(tmp, f"{name}.sqlite3")

    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    for alias in connections:
        call_command("migrate", database=alias, verbosity=0, interactive=False)
    label = connections["default"].vendor
    if db == "sqlite":
        label += " file database"
    try:
        yield label
    finally:
        connections.close_all()
        if db == "postgres":
            for each in names:
                _drop_pg(each)


def refresh_statistics(*aliases: str) -> None:
    """PostgreSQL: ``ANALYZE`` the freshly seeded tables, as autovacuum would have.

    Without statistics the planner guesses, and autovacuum may analyze in
    the middle of a measurement: the same query then changes plan between
    samples. SQLite is left as it is (nothing analyzes it on its own).
    """
    from django.db import connections

    for alias in aliases or ("default",):
        if connections[alias].vendor == "postgresql":
            with connections[alias].cursor() as cursor:
                cursor.execute("ANALYZE")


class SwitchRouter:
    """Sends every query to ``SwitchRouter.alias`` (the deadlines benchmark flips it)."""

    alias = "default"

    def db_for_read(self, model: Any, **hints: Any) -> str:
        return self.alias

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return self.alias

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return True


@contextlib.contextmanager
def count_queries(alias: str = "default") -> Iterator[list[str]]:
    """The SQL run on ``alias`` meanwhile (unlike ``CaptureQueriesContext``, it
    survives the ``reset_queries`` that every test-client request triggers)."""
    from django.db import connections

    seen: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connections[alias].execute_wrapper(record):
        yield seen


def main_for(
    area_run: Callable[[str], None], choices: tuple[str, ...] = ("sqlite", "postgres")
) -> None:
    """The ``__main__`` of an area module: run it on ``--db`` and exit with its verdict."""
    db = parse_db(choices=choices)
    area_run(db)
    sys.exit(finish())
