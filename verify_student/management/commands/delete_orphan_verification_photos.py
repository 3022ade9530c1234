"""Delete stored photos that no verification attempt needs any more.

Photos are kept under ``face/<receipt id>`` and ``photo_id/<receipt id>``.
One is an orphan when no attempt with its receipt id needs it: the
submission failed while storage was down and the clean-up failed too, the
attempt was deleted with its user (the database cascade does not reach the
storage), or its photos were deleted on purpose or its learner retired and a
deletion stopped half way. Photos stored in the last ``--older-than-hours``
hours are left alone, since a submission stores the face photo before its
attempt is saved. Re-running is safe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from verify_student import api
from verify_student.exceptions import PhotoStorageError

from ._batching import BatchCommand, add_batch_arguments, add_dry_run_argument, whole_number_option


class Command(BatchCommand):
    help = (
        "Delete the stored face and ID photos that no verification attempt needs (left by "
        "failed submissions, by attempts deleted with their user, or by interrupted "
        "deletions) and that were stored more than --older-than-hours hours ago (default "
        "24). Prints one line per batch and the counts; exits non-zero if some photos "
        "could not be deleted (run again to finish)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-hours",
            dest="older_than_hours",
            type=int,
            default=24,
            metavar="HOURS",
            help="Leave photos stored more recently alone (default: %(default)s; at least 1).",
        )
        add_batch_arguments(parser, batch_size=500, sleep_time=0)
        add_dry_run_argument(parser, "would be deleted")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size, sleep_time = self.batch_options(options)
        hours = whole_number_option(options["older_than_hours"], "--older-than-hours", minimum=1)
        try:
            orphans = api.orphan_photos(timezone.now() - timedelta(hours=hours))
        except PhotoStorageError as exc:
            raise CommandError(f"The photo storage could not be listed: {exc}") from exc
        self.stdout.write(
            f"{len(orphans)} stored photo(s) older than {hours} hour(s) that no attempt needs."
        )
        if options["dry_run"]:
            for path in orphans:
                self.stdout.write(f"  {path}")
            self.stdout.write(
                self.style.SUCCESS(
                    f"Dry run: {len(orphans)} photo(s) would have been deleted. "
                    "Nothing was changed."
                )
            )
            return
        counts: Counter[str] = Counter()
        self.run_batches(orphans, lambda batch: self._delete(batch, counts), batch_size, sleep_time)
        summary = (
            f"{counts['deleted']} photo(s) deleted, {counts['needed']} kept (an attempt "
            f"needs them now), {counts['failed']} failed."
        )
        if counts["failed"]:
            raise CommandError(f"{summary} Run the command again to delete the rest.")
        self.stdout.write(self.style.SUCCESS(f"Done: {summary}"))

    def _delete(self, paths: Sequence[str], counts: Counter[str]) -> None:
        for path in paths:
            try:
                counts["deleted" if api.delete_orphan_photo(path) else "needed"] += 1
            except PhotoStorageError as exc:  # logged by storage.py: the path and error kind
                counts["failed"] += 1
                self.stderr.write(str(exc))
