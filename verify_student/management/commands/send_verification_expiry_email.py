"""Email learners whose identity verification has just expired.

An approved attempt expires ``DAYS_GOOD_FOR`` days after it was created. The
command mails the learners whose latest approved attempt expired in the
``--days-range`` days before today (midnight UTC to midnight UTC) and who
have not verified again since (no newer submitted, approved or must_retry
attempt). Each expiry is mailed once: the attempt's ``expiry_email_date``
records the email, so a second run, or a wider range, mails nobody twice.
Run it once a day.
"""

from __future__ import annotations

import smtplib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.mail import EmailMessage, get_connection
from django.core.management.base import CommandError, CommandParser
from django.db.models import Exists, OuterRef, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from verify_student import statuses
from verify_student.conf import app_settings
from verify_student.models import SoftwareSecurePhotoVerification

from ._batching import (
    BatchCommand,
    add_batch_arguments,
    add_dry_run_argument,
    whole_number_option,
)

SUBJECT_TEMPLATE = "verify_student/emails/verification_expiry_subject.txt"
BODY_TEMPLATE = "verify_student/emails/verification_expiry_body.txt"


class Command(BatchCommand):
    help = (
        "Email the learners whose approved ID verification expired in the --days-range "
        "days before today (UTC) and who have not verified again, once per expiry "
        "(recorded on the attempt). Run it once a day. Sends in batches, one "
        "mail connection per batch. Exits non-zero, after trying everyone, when an email "
        "could not be sent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days-range",
            "--days_range",
            dest="days_range",
            type=int,
            default=1,
            metavar="DAYS",
            help="Mail the verifications that expired in this many days before today "
            "(default: %(default)s).",
        )
        parser.add_argument(
            "--verify-url",
            dest="verify_url",
            default="",
            metavar="URL",
            help="Where learners verify again; put in the email when given.",
        )
        add_batch_arguments(parser, batch_size=1000, sleep_time=10)
        add_dry_run_argument(parser, "would be mailed")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size, sleep_time = self.batch_options(options)
        days_range = whole_number_option(options["days_range"], "--days-range", minimum=1)
        end = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - timedelta(days=days_range)
        attempt_ids = list(
            _expired_unrenewed(start, end).order_by("pk").values_list("pk", flat=True)
        )
        dry_run = options["dry_run"]
        self.stdout.write(
            f"{len(attempt_ids)} verification(s) expired between {start:%Y-%m-%d} and "
            f"{end:%Y-%m-%d} (UTC) without a newer one."
        )
        counts: Counter[str] = Counter()
        context = {
            "platform_name": app_settings.platform_name,
            "days_good_for": app_settings.DAYS_GOOD_FOR,
            "verify_url": options["verify_url"],
        }
        self.run_batches(
            attempt_ids,
            lambda batch: self._mail(batch, context, dry_run, counts),
            batch_size,
            sleep_time,
        )
        verb = "would be sent" if dry_run else "sent"
        summary = (
            f"{counts['sent']} email(s) {verb}, {counts['skipped']} skipped "
            f"(inactive or no email), {counts['failed']} failed."
        )
        summary = f"Dry run: {summary} Nothing was sent." if dry_run else f"Done: {summary}"
        if counts["failed"]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def _mail(
        self,
        attempt_ids: Sequence[int],
        context: dict[str, Any],
        dry_run: bool,
        counts: Counter[str],
    ) -> None:
        attempts = list(
            SoftwareSecurePhotoVerification.objects.filter(pk__in=attempt_ids)
            .select_related("user")
            .order_by("pk")
        )
        messages: list[tuple[SoftwareSecurePhotoVerification, EmailMessage]] = []
        for attempt in attempts:
            user = attempt.user
            if not user.is_active or not user.email:
                counts["skipped"] += 1
                self.stdout.write(f"user {user.pk}: skipped (inactive or no email)")
            elif dry_run:
                counts["sent"] += 1
                self.stdout.write(f"user {user.pk}: would be mailed (attempt {attempt.pk})")
            else:
                messages.append((attempt, _expiry_email(attempt, context)))
        if messages:
            self._send(messages, counts)

    def _send(
        self,
        messages: list[tuple[SoftwareSecurePhotoVerification, EmailMessage]],
        counts: Counter[str],
    ) -> None:
        """Send over one connection; a failure is counted and reported, per learner."""
        connection = get_connection()
        try:
            connection.open()
        except (smtplib.SMTPException, OSError) as exc:
            counts["failed"] += len(messages)
            self.stdout.write(f"could not connect to the mail server: {exc}; batch not sent")
            return
        try:
            for attempt, message in messages:
                try:
                    connection.send_messages([message])
                except (smtplib.SMTPException, OSError) as exc:
                    counts["failed"] += 1
                    self.stdout.write(f"user {attempt.user_id}: not sent: {exc}")
                else:
                    SoftwareSecurePhotoVerification.objects.filter(pk=attempt.pk).update(
                        expiry_email_date=timezone.now()
                    )
                    counts["sent"] += 1
                    self.stdout.write(f"user {attempt.user_id}: mailed (attempt {attempt.pk})")
        finally:
            connection.close()


def _expired_unrenewed(start: datetime, end: datetime) -> QuerySet[SoftwareSecurePhotoVerification]:
    """Approved attempts that expired in [start, end), not yet mailed, with no newer one."""
    good_for = timedelta(days=app_settings.DAYS_GOOD_FOR)
    newer = SoftwareSecurePhotoVerification.objects.filter(
        user=OuterRef("user"),
        created_at__gt=OuterRef("created_at"),
        status__in=statuses.VALID_OR_PENDING,
    )
    return (
        SoftwareSecurePhotoVerification.unretired()
        .filter(
            status=statuses.APPROVED,
            created_at__gte=start - good_for,
            created_at__lt=end - good_for,
            expiry_email_date__isnull=True,
        )
        .exclude(Exists(newer))
    )


def _expiry_email(
    attempt: SoftwareSecurePhotoVerification, context: dict[str, Any]
) -> EmailMessage:
    user = attempt.user
    full_name = attempt.name or user.get_full_name() or user.get_username()
    context = {**context, "user": user, "full_name": full_name}
    context["expiration_datetime"] = attempt.expiration_datetime
    subject = render_to_string(SUBJECT_TEMPLATE, context).strip()
    body = render_to_string(BODY_TEMPLATE, context)
    return EmailMessage(subject, body, to=[user.email])
