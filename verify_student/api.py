"""The public functions a host LMS (and this app's views, admin and commands) call.

Views, admin actions, management commands and receivers are thin adapters
over these functions and ``services.IDVerificationService``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from . import statuses
from .conf import app_settings
from .exceptions import InvalidPhotoError, PhotoStorageError, VerificationException
from .models import (
    STAFF_ERROR_CODE,
    IcrvStatusEmailsConfiguration,
    PhotoReviewAccess,
    SkippedReverification,
    SoftwareSecurePhotoVerification,
    VerificationDeadline,
    VerificationStatus,
)
from .services import IDVerificationService

__all__ = [
    "IDVerificationService",
    "PhotosNotDeletedError",
    "ReviewResult",
    "UnknownReceiptError",
    "UnknownResultError",
    "deadline_for_course",
    "decode_image",
    "delete_expired_photos",
    "export_user_verification_data",
    "lent_to_pending",
    "photos_past_retention",
    "record_review_result",
    "retire_user",
    "submit_verification",
    "validate_image",
]

log = logging.getLogger(__name__)

#: Result codes the reviewer sends, and the status each leads to.
REVIEW_RESULTS = {"PASS": "approved", "FAIL": "denied", "SYSTEM FAIL": "error"}
_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


class UnknownReceiptError(LookupError):
    """No attempt has the receipt id the reviewer sent."""


class UnknownResultError(ValueError):
    """The reviewer sent a Result other than PASS, FAIL or SYSTEM FAIL."""


class PhotosNotDeletedError(PhotoStorageError):
    """Some stored photos could not be deleted; everything else was done.

    ``paths`` names them. Deleting is idempotent: calling again finishes the job.
    """

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        super().__init__(
            f"{len(paths)} stored photo(s) could not be deleted ({', '.join(paths)}); "
            "the storage error was logged. Run the retirement again to finish."
        )


# -- photos ------------------------------------------------------------------------
def decode_image(value: str | bytes) -> bytes:
    """The bytes of an image given as a ``data:image/...;base64,`` URL or raw bytes.

    Raises ``InvalidPhotoError`` for a data URL that is not base64.
    """
    if isinstance(value, bytes):
        return value
    header, sep, payload = value.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise InvalidPhotoError("The image must be a base64 data URL (data:image/...;base64,...).")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidPhotoError("The image data URL is not valid base64.") from exc


def validate_image(data: bytes, label: str = "image") -> str:
    """Check size and type (JPEG or PNG by magic bytes); return the content type."""
    if not data:
        raise InvalidPhotoError(f"The {label} is empty.")
    limit = app_settings.MAX_IMAGE_SIZE
    if len(data) > limit:
        raise InvalidPhotoError(
            f"The {label} is {len(data) / 1e6:.1f} MB; the limit is {limit / 1e6:.1f} MB."
        )
    for magic, content_type in _MAGIC.items():
        if data.startswith(magic):
            return content_type
    raise InvalidPhotoError(f"The {label} must be a JPEG or PNG image.")


def submit_verification(
    user: Any, face_image: bytes, photo_id_image: bytes | None = None
) -> SoftwareSecurePhotoVerification:
    """Create an attempt, store its encrypted photos, mark it ready, queue the submission.

    Without ``photo_id_image`` the photo ID of the user's initial
    verification is re-used (re-verification); with neither, the call is
    refused. The submission task runs once the transaction commits. On any
    error nothing is left behind: no attempt row and no stored photo.
    """
    validate_image(face_image, "face photo")
    initial = None
    if photo_id_image is None:
        initial = SoftwareSecurePhotoVerification.get_initial_verification(user)
        if initial is None:
            raise InvalidPhotoError("A photo ID image is required for a first verification.")
    else:
        validate_image(photo_id_image, "photo ID image")

    stored: list[str] = []
    try:
        with transaction.atomic():
            attempt = SoftwareSecurePhotoVerification.objects.create(user=user)
            attempt.upload_face_image(face_image)
            stored.append(attempt._get_path("face"))
            if photo_id_image is not None:
                attempt.upload_photo_id_image(photo_id_image)
                stored.append(attempt._get_path("photo_id"))
            else:
                attempt.copy_id_photo_from = initial
                attempt.save(update_fields=["copy_id_photo_from"])
            attempt.mark_ready()
            transaction.on_commit(lambda: _queue_submission(attempt.pk))
    except Exception:
        _delete_photos(stored)
        raise
    log.info("Verification attempt %s (receipt %s) ready.", attempt.pk, attempt.receipt_id)
    return attempt


def _queue_submission(attempt_id: int) -> None:
    from .tasks import send_request_to_ss_for_user

    send_request_to_ss_for_user.delay(attempt_id)


def _delete_photos(paths: list[str]) -> None:
    from . import storage

    for path in paths:
        try:
            storage.delete_photo(path)
        except PhotoStorageError:
            log.error("Could not delete %s after a failed submission.", path)


# -- the reviewer's results ---------------------------------------------------------
@dataclass(frozen=True)
class ReviewResult:
    attempt: SoftwareSecurePhotoVerification
    status: str  # approved, denied or error (the VerificationStatus vocabulary)
    changed: bool  # False when the callback repeated what was already recorded


def _reason_text(reason: Any) -> str:
    """The reviewer's reason as text: strings as sent, structures as JSON."""
    if reason is None:
        return ""
    return reason if isinstance(reason, str) else json.dumps(reason)


def record_review_result(
    receipt_id: str, result: str, reason: Any = "", message_type: str = ""
) -> ReviewResult:
    """Apply the reviewer's decision to the attempt with ``receipt_id``.

    PASS approves, FAIL denies (reason kept in ``error_msg``, MessageType as
    ``error_code``), SYSTEM FAIL marks must_retry. A repeated callback
    changes nothing and adds no checkpoint status or email.
    """
    if result not in REVIEW_RESULTS:
        raise UnknownResultError(
            f"Result {result} not understood. Known results: PASS, FAIL, SYSTEM FAIL"
        )
    attempt = SoftwareSecurePhotoVerification.objects.filter(receipt_id=receipt_id).first()
    if attempt is None:
        raise UnknownReceiptError(f"edX ID {receipt_id} not found")
    decision = {"PASS": "approve", "FAIL": "deny", "SYSTEM FAIL": "system_error"}[result]
    status = REVIEW_RESULTS[result]
    # apply_review is its own locked transaction (no savepoint when called alone).
    checkpoints = attempt.apply_review(
        decision, _reason_text(reason), str(message_type or "")[:50], service="SoftwareSecure"
    )
    changed = checkpoints is not None
    if checkpoints and IcrvStatusEmailsConfiguration.current().enabled:
        first = checkpoints[0].pk
        transaction.on_commit(lambda: _queue_icrv_email(attempt.user_id, first, status))
    log.info("Review result %s recorded for receipt %s (changed=%s).", result, receipt_id, changed)
    return ReviewResult(attempt=attempt, status=status, changed=changed)


def _queue_icrv_email(user_id: int, checkpoint_id: int, status: str) -> None:
    from .tasks import send_verification_status_email

    send_verification_status_email.delay(user_id, checkpoint_id, status)


# -- staff review --------------------------------------------------------------------
def review_attempt(
    attempt: SoftwareSecurePhotoVerification,
    decision: str,
    reviewer: Any,
    reason: str = "",
) -> SoftwareSecurePhotoVerification:
    """A staff decision: ``approve``, ``deny`` (reason required) or ``retry``.

    Raises ``VerificationException`` when the state machine refuses it.
    """
    if decision == "approve":
        attempt.approve(user_id=reviewer, service="staff")
    elif decision == "deny":
        if not reason.strip():
            raise VerificationException("A reason is required to deny an attempt.")
        attempt.deny(reason.strip(), error_code=STAFF_ERROR_CODE, reviewing_user=reviewer)
    elif decision == "retry":
        attempt.system_error(
            reason.strip() or "Marked for retry by staff.", reviewing_user=reviewer
        )
    else:
        raise ValueError(f"Unknown decision {decision!r}")
    return attempt


def resubmit(attempt: SoftwareSecurePhotoVerification) -> None:
    """Queue a new submission of an attempt that is ready or must_retry."""
    if attempt.status not in statuses.ALLOWED_FROM["submit"]:
        raise VerificationException(
            f"Attempt {attempt.pk} is {attempt.status}; only "
            f"{', '.join(statuses.ALLOWED_FROM['submit'])} attempts can be resubmitted."
        )
    transaction.on_commit(lambda: _queue_submission(attempt.pk))


# -- deadlines -------------------------------------------------------------------------
def deadline_for_course(course_key: Any) -> Any:
    """The course's verification deadline, or None (cached)."""
    return VerificationDeadline.deadline_for_course(course_key)


def deadlines_for_courses(course_keys: Any) -> dict[Any, Any]:
    """``{course_key: deadline}`` for those courses that have one (cached)."""
    return VerificationDeadline.deadlines_for_courses(course_keys)


# -- privacy: retirement, retention, export -------------------------------------------------
Attempt = SoftwareSecurePhotoVerification
#: Statuses of an attempt not yet decided: its photos are never deleted by retention.
PENDING = (statuses.CREATED, statuses.READY, statuses.SUBMITTED, statuses.MUST_RETRY)
#: What identifies the learner on an attempt (and on its history rows). ``error_msg``
#: is included: a staff denial reason or a reviewer's message is free text that may
#: quote the name on the ID. ``error_code`` (a category) is kept.
PERSONAL_FIELDS = {"name": "", "face_image_url": "", "photo_id_image_url": "", "error_msg": ""}
_PHOTOS = ("face", "photo_id")


def retire_user(user: Any) -> None:
    """Erase what identifies ``user`` in verification records; keep the decisions.

    On every attempt of the user, and on every history row of those attempts,
    blanks the legal name, image URLs and reason text (``PERSONAL_FIELDS``);
    blanks the sealed ``photo_id_key``; marks the attempts ``retired_at`` so
    status queries answer "none" from now on; clears the free-text
    ``response``/``error`` of the user's checkpoint statuses. Status, dates,
    reviewing service and error code stay, so reports stay true. Then deletes
    the stored face and ID photos of every attempt (``photos_deleted_at`` is
    set on each attempt whose photos are gone).

    Idempotent. A storage failure does not stop the rest; it is logged and
    ``PhotosNotDeletedError`` is raised at the end: call again to finish.
    """
    now = timezone.now()
    attempts = Attempt.objects.filter(user=user)
    with transaction.atomic():
        attempts.update(**PERSONAL_FIELDS, photo_id_key="")
        attempts.filter(retired_at__isnull=True).update(retired_at=now)
        Attempt.history.model.objects.filter(  # type: ignore[attr-defined]
            Q(id__in=attempts.values("pk")) | Q(user_id=user.pk)
        ).update(**PERSONAL_FIELDS)
        VerificationStatus.objects.filter(user=user).update(response=None, error=None)
    failed: list[str] = []
    for attempt in attempts.filter(photos_deleted_at__isnull=True).order_by("pk"):
        try:
            _erase_photos(attempt, now)
        except PhotoStorageError:
            failed.extend(attempt._get_path(prefix) for prefix in _PHOTOS)
    log.info("Verification data of user %s retired (%d photo(s) left).", user.pk, len(failed))
    if failed:
        raise PhotosNotDeletedError(failed)


def _erase_photos(attempt: SoftwareSecurePhotoVerification, now: datetime) -> None:
    """Delete both stored photos (idempotent), then blank the key and mark the attempt."""
    from . import storage

    for prefix in _PHOTOS:
        storage.delete_photo(attempt._get_path(prefix))
    Attempt.objects.filter(pk=attempt.pk).update(
        photo_id_key="", face_image_url="", photo_id_image_url=""
    )
    Attempt.objects.filter(pk=attempt.pk, photos_deleted_at__isnull=True).update(
        photos_deleted_at=now
    )


def photos_past_retention(now: datetime | None = None) -> QuerySet[SoftwareSecurePhotoVerification]:
    """Decided attempts whose photos are older than ``PHOTO_RETENTION_DAYS`` and still stored.

    Those among them ``lent_to_pending`` must wait still.
    """
    cutoff = (now or timezone.now()) - timedelta(days=app_settings.PHOTO_RETENTION_DAYS)
    return Attempt.objects.filter(
        status__in=statuses.DECIDED, status_changed__lt=cutoff, photos_deleted_at__isnull=True
    )


def lent_to_pending(
    attempts: QuerySet[SoftwareSecurePhotoVerification],
) -> QuerySet[SoftwareSecurePhotoVerification]:
    """Those ``attempts`` whose photo ID a pending re-verification re-uses (copies)."""
    borrowers = Attempt.objects.filter(copy_id_photo_from=OuterRef("pk"), status__in=PENDING)
    return attempts.filter(Exists(borrowers))


def delete_expired_photos(attempt_id: int, now: datetime | None = None) -> str:
    """Delete the photos of one attempt if retention allows it now; say what happened.

    ``deleted``; ``lent`` (kept for a pending re-verification); or ``skipped``
    (no longer due: decided again, already deleted or gone). The row is
    locked and re-checked first, so a concurrent decision or re-verification
    wins. Raises ``PhotoStorageError`` with the database unchanged.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = photos_past_retention(now).filter(pk=attempt_id)
        attempt = due.select_for_update().first()
        if attempt is None:
            return "skipped"
        if lent_to_pending(due).exists():
            return "lent"
        _erase_photos(attempt, now)
    log.info("Photos of attempt %s (receipt %s) deleted.", attempt.pk, attempt.receipt_id)
    return "deleted"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_user_verification_data(user: Any) -> dict[str, Any]:
    """The user's verification records, JSON-serialisable, for a data-access request.

    Attempts (receipt id, status, dates, legal name, reviewing service, error
    code and reason), when their photos were viewed by staff (not by whom),
    checkpoint statuses and skipped checkpoints. Never keys, image URLs or
    images.
    """
    attempts = Attempt.objects.filter(user=user).select_related("copy_id_photo_from")
    views = PhotoReviewAccess.objects.filter(attempt__user=user).order_by("viewed_at", "pk")
    statuses_ = VerificationStatus.objects.filter(user=user).select_related("checkpoint")
    skips = SkippedReverification.objects.filter(user=user).select_related("checkpoint")
    return {
        "user_id": user.pk,
        "username": user.get_username(),
        "exported_at": timezone.now().isoformat(),
        "photo_verifications": [
            {
                "receipt_id": attempt.receipt_id,
                "status": attempt.status,
                "name": attempt.name,
                "created_at": _iso(attempt.created_at),
                "submitted_at": _iso(attempt.submitted_at),
                "status_changed": _iso(attempt.status_changed),
                "updated_at": _iso(attempt.updated_at),
                "expires_at": _iso(attempt.expiration_datetime),
                "reviewing_service": attempt.reviewing_service,
                "error_code": attempt.error_code,
                "reason": attempt.error_msg,
                "photo_id_reused_from": getattr(attempt.copy_id_photo_from, "receipt_id", None),
                "photos_deleted_at": _iso(attempt.photos_deleted_at),
                "retired_at": _iso(attempt.retired_at),
            }
            for attempt in attempts.order_by("created_at", "pk")
        ],
        "photo_views": [
            {
                "receipt_id": view.attempt.receipt_id,
                "image": view.image,
                "viewed_at": _iso(view.viewed_at),
            }
            for view in views.select_related("attempt")
        ],
        "checkpoint_statuses": [
            {
                "course_id": str(row.checkpoint.course_id),
                "checkpoint_location": row.checkpoint.checkpoint_location,
                "status": row.status,
                "timestamp": _iso(row.timestamp),
            }
            for row in statuses_.order_by("timestamp", "pk")
        ],
        "skipped_reverifications": [
            {
                "course_id": str(skip.course_id),
                "checkpoint_location": skip.checkpoint.checkpoint_location,
                "created_at": _iso(skip.created_at),
            }
            for skip in skips.order_by("created_at", "pk")
        ],
    }
