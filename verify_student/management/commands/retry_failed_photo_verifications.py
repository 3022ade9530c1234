"""Resubmit photo verification attempts to the review service.

Each attempt is sent synchronously through ``SoftwareSecurePhotoVerification.submit``
(the path the submission task takes, without its retries), so the command can
say what the service answered: ``submitted`` on a 2xx, ``must_retry`` with the
error kept otherwise.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db.models import Q, QuerySet

from verify_student import statuses
from verify_student.client import SubmissionOutcome
from verify_student.exceptions import VerificationException
from verify_student.models import SoftwareSecurePhotoVerification

from ._batching import (
    BatchCommand,
    add_batch_arguments,
    add_dry_run_argument,
    parse_datetime_option,
    unique,
)

#: The statuses the state machine lets ``submit`` start from.
RESUBMITTABLE = statuses.ALLOWED_FROM["submit"]


class Command(BatchCommand):
    help = (
        "Resubmit photo verification attempts to the review service: by default every "
        "attempt in must_retry; or those with --status (one of "
        f"{', '.join(RESUBMITTABLE)}); or the attempts named with --verification-ids. "
        "--start-datetime/--end-datetime narrow the selection by creation time. Each "
        "attempt is sent synchronously and ends submitted (2xx) or must_retry (error "
        "kept). Prints a line per attempt, one per batch, and a summary; exits non-zero "
        "only on bad arguments (a submission still failing is reported, not an error)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--verification-ids",
            "--verification_ids",
            dest="verification_ids",
            nargs="+",
            default=[],
            metavar="ID",
            help="Attempt ids or receipt ids (space or comma separated). Attempts whose "
            f"status is not one of {', '.join(RESUBMITTABLE)} are skipped.",
        )
        parser.add_argument(
            "--status",
            choices=RESUBMITTABLE,
            default=None,
            help="Resubmit the attempts in this status (default: must_retry; with "
            "--verification-ids, any status that can be resubmitted).",
        )
        parser.add_argument(
            "--start-datetime",
            "--start_datetime",
            dest="start_datetime",
            metavar="ISO_DATETIME",
            help="Only attempts created at or after this time (ISO 8601; naive times are "
            "in TIME_ZONE; a date alone means its midnight).",
        )
        parser.add_argument(
            "--end-datetime",
            "--end_datetime",
            dest="end_datetime",
            metavar="ISO_DATETIME",
            help="Only attempts created at or before this time (ISO 8601).",
        )
        add_batch_arguments(parser, batch_size=300, sleep_time=10)
        add_dry_run_argument(parser, "would be resubmitted")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size, sleep_time = self.batch_options(options)
        dry_run = options["dry_run"]
        attempt_ids = list(self._selection(options).order_by("pk").values_list("pk", flat=True))
        verb = "to check" if dry_run else "to resubmit"
        self.stdout.write(f"{len(attempt_ids)} verification attempt(s) {verb}.")
        counts: Counter[str] = Counter()
        self.run_batches(
            attempt_ids,
            lambda batch: self._resubmit(batch, dry_run, counts),
            batch_size,
            sleep_time,
        )
        if dry_run:
            summary = (
                f"Dry run: {counts['resubmitted']} would be resubmitted, "
                f"{counts['skipped']} skipped; nothing was changed."
            )
        else:
            summary = (
                f"Done: {counts['resubmitted']} resubmitted ({counts['submitted']} submitted, "
                f"{counts['failing']} still failing), {counts['skipped']} skipped."
            )
        self.stdout.write(self.style.SUCCESS(summary))

    def _selection(self, options: dict[str, Any]) -> QuerySet[SoftwareSecurePhotoVerification]:
        status = options["status"]
        if status is not None and status not in RESUBMITTABLE:
            raise CommandError(
                f"Unknown --status {status!r}: choose one of {', '.join(RESUBMITTABLE)}."
            )
        start = parse_datetime_option(options["start_datetime"], "--start-datetime")
        end = parse_datetime_option(options["end_datetime"], "--end-datetime")
        if start and end and start > end:
            raise CommandError("--start-datetime is after --end-datetime.")

        queryset = SoftwareSecurePhotoVerification.objects.all()
        requested = _split_ids(options["verification_ids"])
        if requested:
            queryset = queryset.filter(_matching(requested))
            _check_all_found(queryset, requested)
            if status is not None:
                queryset = queryset.filter(status=status)
        else:
            queryset = queryset.filter(status=status or statuses.MUST_RETRY)
        if start:
            queryset = queryset.filter(created_at__gte=start)
        if end:
            queryset = queryset.filter(created_at__lte=end)
        return queryset

    def _resubmit(self, attempt_ids: Any, dry_run: bool, counts: Counter[str]) -> None:
        attempts = (
            SoftwareSecurePhotoVerification.objects.filter(pk__in=attempt_ids)
            .select_related("copy_id_photo_from")
            .order_by("pk")
        )
        for attempt in attempts:
            label = f"attempt {attempt.pk} (receipt {attempt.receipt_id}, {attempt.status})"
            if attempt.status not in RESUBMITTABLE:
                counts["skipped"] += 1
                self.stdout.write(f"{label}: skipped, its status cannot be resubmitted")
                continue
            if dry_run:
                counts["resubmitted"] += 1
                self.stdout.write(f"{label}: would be resubmitted")
                continue
            try:
                outcome = attempt.submit(copy_id_photo_from=attempt.copy_id_photo_from)
            except VerificationException as exc:  # decided by someone else meanwhile
                counts["skipped"] += 1
                self.stdout.write(f"{label}: skipped, {exc}")
                continue
            counts["resubmitted"] += 1
            if outcome is SubmissionOutcome.SUBMITTED:
                counts["submitted"] += 1
                self.stdout.write(f"{label}: submitted")
            else:
                counts["failing"] += 1
                self.stdout.write(f"{label}: still failing: {attempt.error_msg[:200]}")


def _split_ids(values: list[str]) -> list[str]:
    ids = (part.strip() for value in values for part in str(value).split(","))
    return unique([value for value in ids if value])


def _matching(requested: list[str]) -> Q:
    pks = [int(value) for value in requested if value.isdigit()]
    return Q(receipt_id__in=requested) | Q(pk__in=pks)


def _check_all_found(
    queryset: QuerySet[SoftwareSecurePhotoVerification], requested: list[str]
) -> None:
    found: set[str] = set()
    for pk, receipt_id in queryset.values_list("pk", "receipt_id"):
        found.update((str(pk), receipt_id))
    missing = [value for value in requested if value not in found]
    if missing:
        raise CommandError(
            f"No verification attempt has the id or receipt id: {', '.join(missing)}. "
            "Nothing was resubmitted."
        )
