"""Approve photo verification attempts by hand, from a file of receipt ids.

Unlike ``manual_verifications`` this approves the learner's own attempt
(through the state machine: ``approve``), so the record keeps its photos and
history. Only attempts waiting for a decision are approved: ``submitted`` or
``must_retry``, and not expired. A denied attempt is left alone; override a
denial with ``set_software_secure_status approved``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from verify_student import statuses
from verify_student.models import SoftwareSecurePhotoVerification

from ._batching import BatchCommand, add_batch_arguments, add_dry_run_argument, read_lines, unique

REVIEWING_SERVICE = "approve_id_verifications command"
APPROVABLE = (statuses.SUBMITTED, statuses.MUST_RETRY)


class Command(BatchCommand):
    help = (
        "Approve the photo verification attempts whose receipt ids are listed in a file "
        "(one per line; blank lines and lines starting with # are ignored). Only "
        "submitted or must_retry attempts that have not expired are approved; already "
        "approved ones are skipped. Exits non-zero, after handling the rest, when a receipt "
        "id is unknown or its attempt cannot be approved."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("receipt_ids_file", help="Path of the file of receipt ids.")
        add_batch_arguments(parser, batch_size=1000, sleep_time=10)
        add_dry_run_argument(parser, "would be approved")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size, sleep_time = self.batch_options(options)
        receipt_ids = unique(read_lines(options["receipt_ids_file"], "receipt id"))
        if not receipt_ids:
            raise CommandError(f"{options['receipt_ids_file']!r} holds no receipt id.")
        dry_run = options["dry_run"]
        verb = "check" if dry_run else "approve"
        self.stdout.write(f"{len(receipt_ids)} receipt id(s) to {verb}.")
        counts: Counter[str] = Counter()
        self.run_batches(
            receipt_ids, lambda batch: self._approve(batch, dry_run, counts), batch_size, sleep_time
        )
        verb = "would be approved" if dry_run else "approved"
        summary = (
            f"{counts['approved']} {verb}, {counts['already']} already approved, "
            f"{counts['not_found']} not found, {counts['refused']} refused."
        )
        summary = f"Dry run: {summary} Nothing was changed." if dry_run else f"Done: {summary}"
        if counts["not_found"] or counts["refused"]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def _approve(self, receipt_ids: Sequence[str], dry_run: bool, counts: Counter[str]) -> None:
        attempts: dict[str, SoftwareSecurePhotoVerification] = {}
        # Oldest first, so the newest attempt wins should a receipt id ever repeat.
        for attempt in SoftwareSecurePhotoVerification.objects.filter(
            receipt_id__in=receipt_ids
        ).order_by("created_at", "pk"):
            attempts[attempt.receipt_id] = attempt
        for receipt_id in receipt_ids:
            outcome, detail = self._decide(attempts.get(receipt_id), dry_run)
            counts[outcome] += 1
            self.stdout.write(f"{receipt_id}: {detail}")

    @staticmethod
    def _decide(attempt: SoftwareSecurePhotoVerification | None, dry_run: bool) -> tuple[str, str]:
        if attempt is None:
            return "not_found", "not found"
        if attempt.status == statuses.APPROVED:
            return "already", "already approved"
        if attempt.status not in APPROVABLE:
            return "refused", f"refused, the attempt is {attempt.status}"
        if attempt.expiration_datetime <= timezone.now():
            expired = f"{attempt.expiration_datetime:%Y-%m-%d}"
            return "refused", f"refused, the attempt expired on {expired}"
        if dry_run:
            return "approved", "would be approved"
        with transaction.atomic():
            # Locked and read again: a denial made meanwhile must not be overridden.
            locked = (
                SoftwareSecurePhotoVerification.objects.select_for_update()
                .filter(pk=attempt.pk, status__in=APPROVABLE)
                .first()
            )
            if locked is None:
                return "refused", "refused, the attempt was decided meanwhile"
            locked.approve(service=REVIEWING_SERVICE)
        return "approved", "approved"
