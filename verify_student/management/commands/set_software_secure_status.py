"""Decide a photo verification by hand, as if the review service had answered.

The decision goes through the state machine (``api.review_attempt``); as in
the original, each checkpoint the attempt is linked to gets a
``VerificationStatus`` row with the new status.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from verify_student import api
from verify_student.exceptions import VerificationException
from verify_student.models import (
    SoftwareSecurePhotoVerification,
    VerificationCheckpoint,
    VerificationStatus,
)

from ._batching import add_dry_run_argument

DECISIONS = {"approved": "approve", "denied": "deny"}


class Command(BaseCommand):
    help = (
        "Set a photo verification attempt (by receipt id) to approved or denied, through "
        "the state machine: approve from submitted, must_retry or denied; deny from "
        "submitted, must_retry or approved (a reason is required). A refused transition "
        "exits non-zero and changes nothing. Linked re-verification checkpoints get the "
        "new status."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("status", choices=sorted(DECISIONS), help="The decision.")
        parser.add_argument("receipt_id", help="The attempt's receipt id (EdX-ID).")
        parser.add_argument(
            "reason", nargs="?", default="", help="Why it is denied (required with denied)."
        )
        parser.add_argument(
            "--reviewer",
            metavar="USERNAME",
            help="The staff user recorded as the reviewer (default: none).",
        )
        add_dry_run_argument(parser, "would change")

    def handle(self, *args: Any, **options: Any) -> None:
        status, receipt_id = options["status"], str(options["receipt_id"]).strip()
        reason = str(options["reason"] or "").strip()
        if status not in DECISIONS:
            raise CommandError(f"Unknown status {status!r}: choose approved or denied.")
        if status == "denied" and not reason:
            raise CommandError("A reason is required to deny an attempt.")
        if status == "approved" and reason:
            raise CommandError("A reason is only taken with denied.")
        reviewer = self._reviewer(options["reviewer"])
        attempt = SoftwareSecurePhotoVerification.objects.filter(receipt_id=receipt_id).first()
        if attempt is None:
            raise CommandError(f"No verification attempt has receipt id {receipt_id!r}.")

        before = (attempt.status, attempt.error_msg)
        try:
            with transaction.atomic():
                api.review_attempt(attempt, DECISIONS[status], reviewer, reason)
                changed = before != (attempt.status, attempt.error_msg)
                if changed:
                    checkpoints = VerificationCheckpoint.objects.filter(photo_verification=attempt)
                    VerificationStatus.add_status_from_checkpoints(
                        checkpoints, attempt.user, status
                    )
                if options["dry_run"]:
                    transaction.set_rollback(True)
        except VerificationException as exc:
            raise CommandError(
                f"Cannot set receipt {receipt_id} to {status}: {exc}. Nothing was changed."
            ) from exc

        if not changed:
            self.stdout.write(f"Receipt {receipt_id} was already {status}; nothing changed.")
        elif options["dry_run"]:
            self.stdout.write(
                f"Dry run: receipt {receipt_id} would go from {before[0]} to {status}; "
                "nothing was changed."
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Receipt {receipt_id}: {before[0]} -> {attempt.status}.")
            )

    @staticmethod
    def _reviewer(username: str | None) -> Any:
        if not username:
            return None
        user_model = get_user_model()
        reviewer = user_model._default_manager.filter(
            **{user_model.USERNAME_FIELD: username}
        ).first()
        if reviewer is None:
            raise CommandError(f"No user named {username!r} (--reviewer).")
        return reviewer
