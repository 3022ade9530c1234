"""Mark learners as verified without photos (e.g. verified in person).

For each user found by email, an approved ``SoftwareSecurePhotoVerification``
is created directly, as the original did: the state machine has no path to
approved that does not pass through a submission, and none is made here.
The attempt records ``reviewing_service = "manual_verifications command"``
and counts for ``DAYS_GOOD_FOR`` days like any other approval.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser
from django.db.models.functions import Lower

from verify_student import statuses
from verify_student.conf import app_settings
from verify_student.models import SoftwareSecurePhotoVerification
from verify_student.services import IDVerificationService

from ._batching import (
    BatchCommand,
    add_batch_arguments,
    add_dry_run_argument,
    read_lines,
    unique,
)

REVIEWING_SERVICE = "manual_verifications command"


class Command(BatchCommand):
    help = (
        "Verify users by hand: for each email given (--email, repeatable, and/or "
        "--email-ids-file, one email per line or a CSV file with an email column), create "
        "an approved verification. Users already verified are skipped. Emails are matched "
        "case-insensitively. Exits non-zero, after handling the rest, when an email matches "
        "no user or several."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--email",
            action="append",
            dest="emails",
            default=[],
            metavar="EMAIL",
            help="A user's email (repeat for several).",
        )
        parser.add_argument(
            "--email-ids-file",
            "--email_ids_file",
            dest="email_ids_file",
            metavar="PATH",
            help="A file of emails: one per line, or CSV (every cell holding an @ is read; "
            "a first line without one is taken as a header).",
        )
        add_batch_arguments(parser, batch_size=500, sleep_time=0)
        add_dry_run_argument(parser, "would be verified")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size, sleep_time = self.batch_options(options)
        counts: Counter[str] = Counter()
        emails = [email.strip() for email in options["emails"] if email.strip()]
        if options["email_ids_file"]:
            emails += self._emails_from_file(options["email_ids_file"], counts)
        if not emails and not counts["invalid"]:
            raise CommandError("Give at least one --email or an --email-ids-file with emails.")
        emails = unique(emails, key=str.lower)
        dry_run = options["dry_run"]
        self.stdout.write(f"{len(emails)} email(s) to {'check' if dry_run else 'verify'}.")
        self.run_batches(
            emails, lambda batch: self._verify(batch, dry_run, counts), batch_size, sleep_time
        )

        verb = "would be verified" if dry_run else "verified"
        summary = (
            f"{counts['verified']} {verb}, {counts['already']} already verified, "
            f"{counts['unknown']} unknown, {counts['ambiguous']} matching several users, "
            f"{counts['invalid']} invalid."
        )
        summary = f"Dry run: {summary} Nothing was changed." if dry_run else f"Done: {summary}"
        if counts["unknown"] or counts["ambiguous"] or counts["invalid"]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def _emails_from_file(self, path: str, counts: Counter[str]) -> list[str]:
        emails: list[str] = []
        for number, row in enumerate(csv.reader(read_lines(path, "email")), start=1):
            found = [cell.strip() for cell in row if "@" in cell]
            if found:
                emails += found
            elif number > 1:
                counts["invalid"] += 1
                self.stdout.write(f"row {number}: {','.join(row)!r} holds no email")
        return emails

    def _verify(self, emails: Sequence[str], dry_run: bool, counts: Counter[str]) -> None:
        user_model = get_user_model()
        email_field = user_model.get_email_field_name()
        users = user_model._default_manager.annotate(_email=Lower(email_field)).filter(
            _email__in=[email.lower() for email in emails]
        )
        by_email: dict[str, list[Any]] = defaultdict(list)
        for user in users:
            by_email[user._email].append(user)
        verified_ids = IDVerificationService.get_verified_user_ids(
            [user for matches in by_email.values() for user in matches]
        )
        for email in emails:
            matches = by_email.get(email.lower(), [])
            if not matches:
                counts["unknown"] += 1
                self.stdout.write(f"{email}: no such user")
            elif len(matches) > 1:
                counts["ambiguous"] += 1
                ids = ", ".join(str(user.pk) for user in matches)
                self.stdout.write(f"{email}: several users have it ({ids}); none verified")
            elif matches[0].pk in verified_ids:
                counts["already"] += 1
                self.stdout.write(f"{email}: already verified")
            else:
                counts["verified"] += 1
                if dry_run:
                    self.stdout.write(f"{email}: would be verified")
                else:
                    attempt = _approve_manually(matches[0])
                    self.stdout.write(f"{email}: verified (attempt {attempt.pk})")


def _approve_manually(user: Any) -> SoftwareSecurePhotoVerification:
    resolver = app_settings.FULL_NAME_RESOLVER
    name = resolver(user) if resolver else user.get_full_name() or user.get_username()
    return SoftwareSecurePhotoVerification.objects.create(
        user=user,
        name=name,
        status=statuses.APPROVED,
        reviewing_service=REVIEWING_SERVICE,
    )
