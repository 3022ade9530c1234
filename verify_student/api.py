"""The public functions a host LMS (and this app's views, admin and commands) call.

Views, admin actions, management commands and receivers are thin adapters
over these functions and ``services.IDVerificationService``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import statuses
from .conf import app_settings
from .exceptions import (
    AttemptInProgressError,
    InvalidPhotoError,
    PhotosNotDeletedError,
    PhotoStorageError,
    TooManyAttemptsError,
    UnknownReceiptError,
    UnknownResultError,
    VerificationException,
    VerificationUnavailable,
)
from .models import (
    STAFF_ERROR_CODE,
    IcrvStatusEmailsConfiguration,
    SoftwareSecurePhotoVerification,
    VerificationDeadline,
)
from .privacy import (
    delete_expired_photos,
    delete_orphan_photo,
    export_user_verification_data,
    lent_to_pending,
    orphan_photos,
    photos_past_retention,
    retire_user,
)
from .services import IDVerificationService
from .uploads import PHOTO_FIELDS, too_large_message

__all__ = [
    "AttemptInProgressError",
    "IDVerificationService",
    "PhotosNotDeletedError",
    "ReviewResult",
    "TooManyAttemptsError",
    "UnknownReceiptError",
    "UnknownResultError",
    "VerificationUnavailable",
    "deadline_for_course",
    "decode_image",
    "delete_expired_photos",
    "delete_orphan_photo",
    "ensure_verification_available",
    "export_user_verification_data",
    "lent_to_pending",
    "orphan_photos",
    "photos_past_retention",
    "record_review_result",
    "retire_user",
    "submit_verification",
    "validate_image",
]

log = logging.getLogger(__name__)

#: Statuses of an attempt awaiting its review: a learner may have one at a time.
IN_FLIGHT = (statuses.READY, statuses.SUBMITTED)
#: The window ``MAX_ATTEMPTS_PER_DAY`` counts attempts over.
ATTEMPT_WINDOW = timedelta(hours=24)

#: Result codes the reviewer sends, and the status each leads to.
REVIEW_RESULTS = {"PASS": "approved", "FAIL": "denied", "SYSTEM FAIL": "error"}
_MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


# -- photos ------------------------------------------------------------------------
def decode_image(value: str | bytes) -> bytes:
    """The bytes of an image given as a ``data:image/...;base64,`` URL or raw bytes.

    Raises ``InvalidPhotoError`` for a data URL that is not base64.
    """
    if isinstance(value, bytes):
        return value
    header, sep, payload = value.partition(",")
    if not sep or not header.startswith("data:") or not header.endswith(";base64"):
        raise InvalidPhotoError(
            _("The image must be a base64 data URL (data:image/...;base64,...).")
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidPhotoError(_("The image data URL is not valid base64.")) from exc


def validate_image(data: bytes, label: Any = None) -> str:
    """Check size and type (JPEG or PNG by magic bytes); return the content type.

    ``label`` names the photo in the error messages, as the learner knows it
    (default: "photo").
    """
    label = label or _("photo")
    if not data:
        raise InvalidPhotoError(_("The %(photo)s is empty.") % {"photo": label})
    if len(data) > app_settings.MAX_IMAGE_SIZE:
        raise InvalidPhotoError(too_large_message(label))
    for magic, content_type in _MAGIC.items():
        if data.startswith(magic):
            return content_type
    raise InvalidPhotoError(_("The %(photo)s must be a JPEG or PNG image.") % {"photo": label})


def ensure_verification_available() -> None:
    """Raise ``VerificationUnavailable`` unless submissions can be encrypted, stored and sent.

    The message names the missing setting (it carries no key). A host that has
    not configured the review service yet runs; its learners are told to come back.
    """
    if app_settings.automatic_verify_for_testing:
        return
    from . import storage

    try:
        for key in ("API_URL", "API_ACCESS_KEY", "API_SECRET_KEY"):
            app_settings.software_secure(key)
        app_settings.face_image_aes_key  # noqa: B018 - each raises when unset or malformed
        app_settings.rsa_public_key  # noqa: B018
        storage.get_storage()
    except ImproperlyConfigured as exc:
        raise VerificationUnavailable(str(exc)) from exc


def submit_verification(
    user: Any, face_image: bytes, photo_id_image: bytes | None = None
) -> SoftwareSecurePhotoVerification:
    """Create an attempt, store its encrypted photos, mark it ready, queue the submission.

    Without ``photo_id_image`` the photo ID of the user's initial
    verification is re-used (re-verification); with neither, the call is
    refused. Refused too, before anything is stored: a learner with an
    attempt in flight (``AttemptInProgressError``) or past
    ``MAX_ATTEMPTS_PER_DAY`` (``TooManyAttemptsError``). The submission task
    runs once the transaction commits. On any error nothing is left behind:
    no attempt row and no stored photo.
    """
    ensure_verification_available()
    validate_image(face_image, PHOTO_FIELDS["face_image"])
    initial = None
    if photo_id_image is None:
        initial = SoftwareSecurePhotoVerification.get_initial_verification(user)
        if initial is None:
            raise InvalidPhotoError(_("A photo of your ID is required for a first verification."))
    else:
        validate_image(photo_id_image, PHOTO_FIELDS["photo_id_image"])

    stored: list[str] = []
    try:
        with transaction.atomic():
            _may_start_attempt(user)
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
            # robust: the attempt is committed; a failure to send it now is logged and
            # leaves it ready for retry_failed_photo_verifications, not a 500.
            transaction.on_commit(lambda: _queue_submission(attempt.pk), robust=True)
    except Exception:
        _delete_photos(stored)
        raise
    log.info("Verification attempt %s (receipt %s) ready.", attempt.pk, attempt.receipt_id)
    return attempt


def _may_start_attempt(user: Any) -> None:
    """Refuse a new attempt while one is in flight, or past the daily cap.

    Called in the transaction that creates the attempt, before any photo is
    stored: the learner's row is locked, so two concurrent submissions are
    decided one after the other and the second sees the first.
    """
    user_model = get_user_model()
    list(user_model._default_manager.select_for_update().filter(pk=user.pk).values_list("pk"))
    attempts = SoftwareSecurePhotoVerification.objects.filter(user=user)
    if attempts.filter(status__in=IN_FLIGHT).exists():
        raise AttemptInProgressError(
            _(
                "A verification of yours is already in progress. You can submit new photos "
                "once it has been reviewed."
            )
        )
    limit = app_settings.MAX_ATTEMPTS_PER_DAY
    if limit is None:
        return
    now = timezone.now()
    recent = list(
        attempts.filter(created_at__gt=now - ATTEMPT_WINDOW)
        .order_by("created_at")
        .values_list("created_at", flat=True)[:limit]
    )
    if len(recent) >= limit:
        retry_after = (recent[0] + ATTEMPT_WINDOW - now).total_seconds()
        raise TooManyAttemptsError(
            _(
                "You have made %(limit)s verification attempts in the last 24 hours, the "
                "most allowed. Please try again later."
            )
            % {"limit": limit},
            retry_after=max(1, math.ceil(retry_after)),
        )


def _queue_submission(attempt_id: int) -> None:
    from .tasks import queue_or_run, send_request_to_ss_for_user

    if queue_or_run(send_request_to_ss_for_user, attempt_id) == "not queued":
        log.warning(
            "Verification attempt %s stays ready: `retry_failed_photo_verifications "
            "--status ready` sends it once the broker is back.",
            attempt_id,
        )


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
    from .tasks import queue_or_run, send_verification_status_email

    queue_or_run(send_verification_status_email, user_id, checkpoint_id, status)


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
            raise VerificationException(_("A reason is required to deny an attempt."))
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
            _("Attempt %(id)s is %(status)s; only %(statuses)s attempts can be resubmitted.")
            % {
                "id": attempt.pk,
                "status": attempt.status,
                "statuses": ", ".join(statuses.ALLOWED_FROM["submit"]),
            }
        )
    transaction.on_commit(lambda: _queue_submission(attempt.pk))


# -- deadlines -------------------------------------------------------------------------
def deadline_for_course(course_key: Any) -> Any:
    """The course's verification deadline, or None (cached)."""
    return VerificationDeadline.deadline_for_course(course_key)


def deadlines_for_courses(course_keys: Any) -> dict[Any, Any]:
    """``{course_key: deadline}`` for those courses that have one (cached)."""
    return VerificationDeadline.deadlines_for_courses(course_keys)
