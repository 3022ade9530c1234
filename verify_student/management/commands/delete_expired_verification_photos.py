"""Delete the stored photos of decided attempts once the retention period is over.

An approved or denied attempt keeps its encrypted face and ID photos for
``VERIFY_STUDENT["PHOTO_RETENTION_DAYS"]`` days after the decision
(``status_changed``). Then this command deletes them from storage, blanks the
sealed ``photo_id_key`` and sets ``photos_deleted_at``, so the admin says the
photos were deleted on purpose. Pending attempts are never touched; an
attempt whose ID photo a pending re-verification re-uses waits until that one
is decided. Re-running is safe: deleted attempts are not selected again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from verify_student import api
from verify_student.conf import app_settings
from verify_student.exceptions import PhotoStorageError

from ._batching import BatchCommand, add_batch_arguments, add_dry_run_argument


class Command(BatchCommand):
    help = (
        "Delete the stored face and ID photos of approved or denied verification attempts "
        "decided more than VERIFY_STUDENT['PHOTO_RETENTION_DAYS'] days ago (default 30), "
        "blank their sealed photo-ID key and mark them photos_deleted_at. Pending attempts "
        "are never touched; an ID photo a pending re-verification re-uses is kept until "
        "that one is decided. Prints one line per batch and the counts; exits non-zero if "
        "some photos could not be deleted (run again to finish)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_batch_arguments(parser, batch_size=500, sleep_time=0)
        add_dry_run_argument(parser, "would be deleted")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size, sleep_time = self.batch_options(options)
        dry_run = options["dry_run"]
        now = timezone.now()
        due = api.photos_past_retention(now)
        attempt_ids = list(due.order_by("pk").values_list("pk", flat=True))
        days = app_settings.PHOTO_RETENTION_DAYS
        self.stdout.write(
            f"{len(attempt_ids)} decided attempt(s) with photos older than {days} day(s)."
        )
        counts: Counter[str] = Counter()
        if dry_run:
            lent = api.lent_to_pending(due).count()
            counts.update(deleted=len(attempt_ids) - lent, lent=lent)
        else:
            self.run_batches(
                attempt_ids,
                lambda batch: self._delete(batch, now, counts),
                batch_size,
                sleep_time,
            )
        summary = (
            f"{counts['deleted']} attempt(s) {'would have' if dry_run else 'had'} their photos "
            f"deleted, {counts['lent']} kept for a pending re-verification, "
            f"{counts['skipped']} skipped (decided again meanwhile), {counts['failed']} failed."
        )
        if dry_run:
            self.stdout.write(self.style.SUCCESS(f"Dry run: {summary} Nothing was changed."))
            return
        if counts["failed"]:
            raise CommandError(f"{summary} Run the command again to delete the rest.")
        self.stdout.write(self.style.SUCCESS(f"Done: {summary}"))

    def _delete(self, attempt_ids: Sequence[int], now: Any, counts: Counter[str]) -> None:
        for attempt_id in attempt_ids:
            try:
                counts[api.delete_expired_photos(attempt_id, now)] += 1
            except PhotoStorageError as exc:  # logged by storage.py; the path and error kind
                counts["failed"] += 1
                self.stderr.write(f"attempt {attempt_id}: {exc}")
