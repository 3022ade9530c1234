"""What this app's management commands share: batches, pacing, progress, input files.

Not a command itself: Django skips command modules whose name starts with ``_``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

T = TypeVar("T")


def add_batch_arguments(parser: CommandParser, *, batch_size: int, sleep_time: float) -> None:
    """``--batch-size`` and ``--sleep-time`` (with the original's underscore spellings)."""
    parser.add_argument(
        "--batch-size",
        "--batch_size",
        dest="batch_size",
        type=int,
        default=batch_size,
        metavar="N",
        help="How many records to handle per batch (default: %(default)s).",
    )
    parser.add_argument(
        "--sleep-time",
        "--sleep_time",
        dest="sleep_time",
        type=float,
        default=sleep_time,
        metavar="SECONDS",
        help="Pause between two batches, to spare the database and services "
        "(default: %(default)s; 0 for none).",
    )


def add_dry_run_argument(parser: CommandParser, what: str) -> None:
    parser.add_argument(
        "--dry-run",
        "--dry_run",
        dest="dry_run",
        action="store_true",
        help=f"Show what {what}; change nothing.",
    )


def parse_datetime_option(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 date or datetime; naive values are in the current time zone."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise CommandError(
            f"{option}: {value!r} is not an ISO 8601 date or datetime "
            "(e.g. 2024-03-01 or 2024-03-01T12:00:00+00:00)."
        ) from exc
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def whole_number_option(value: Any, option: str, minimum: int) -> int:
    """``value`` if it is an int >= ``minimum`` (``call_command`` keywords skip argparse)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise CommandError(f"{option} must be a whole number of at least {minimum}, not {value!r}.")
    return value


def read_lines(path: str, what: str) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped; ``#`` starts a comment line."""
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"The {what} file {path!r} does not exist or is not a file.")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read the {what} file {path!r}: {exc}") from exc
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def unique(values: Sequence[T], key: Callable[[T], Any] = lambda value: value) -> list[T]:
    """``values`` without repeats (by ``key``), first occurrence kept, order kept."""
    seen: set[Any] = set()
    kept: list[T] = []
    for value in values:
        if key(value) not in seen:
            seen.add(key(value))
            kept.append(value)
    return kept


class BatchCommand(BaseCommand):
    """A command that works through a list in batches, pausing between them.

    After each batch it writes ``batch <i>/<n>: <done>/<total>``.
    """

    #: The pause function; a test may give an instance its own, to see the pauses.
    sleep: Callable[[float], Any] = staticmethod(time.sleep)

    def batch_options(self, options: dict[str, Any]) -> tuple[int, float]:
        """``(batch_size, sleep_time)``, checked (options may come from ``call_command``)."""
        batch_size = whole_number_option(options["batch_size"], "--batch-size", minimum=1)
        sleep_time = options["sleep_time"]
        if (
            isinstance(sleep_time, bool)
            or not isinstance(sleep_time, int | float)
            or not math.isfinite(sleep_time)
            or sleep_time < 0
        ):
            raise CommandError(
                f"--sleep-time must be a number of seconds >= 0, not {sleep_time!r}."
            )
        return batch_size, float(sleep_time)

    def run_batches(
        self,
        items: Sequence[T],
        process: Callable[[Sequence[T]], None],
        batch_size: int,
        sleep_time: float,
    ) -> None:
        """Call ``process`` on each batch of ``items``, pausing ``sleep_time`` between them."""
        total = len(items)
        batches = math.ceil(total / batch_size)
        for index, start in enumerate(range(0, total, batch_size), start=1):
            if index > 1 and sleep_time > 0:
                self.sleep(sleep_time)
            batch = items[start : start + batch_size]
            process(batch)
            self.stdout.write(f"batch {index}/{batches}: {start + len(batch)}/{total}")
