"""Privacy: account retirement, photo retention and data export.

Re-exported by ``api.py``, which is where a host calls them from.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from . import statuses
from .conf import app_settings
from .exceptions import PhotosNotDeletedError, PhotoStorageError
from .models import (
    PhotoReviewAccess,
    SkippedReverification,
    SoftwareSecurePhotoVerification,
    VerificationStatus,
)

log = logging.getLogger(__name__)

Attempt = SoftwareSecurePhotoVerification
#: Statuses of an attempt not yet decided: its photos are never deleted by retention.
PENDING = (statuses.CREATED, statuses.READY, statuses.SUBMITTED, statuses.MUST_RETRY)
#: What identifies the learner on an attempt (and on its history rows). ``error_msg``
#: is included: a staff denial reason or a reviewer's message is free text that may
#: quote the name on the ID. ``error_code`` (a category) is kept.
PERSONAL_FIELDS = {"name": "", "face_image_url": "", "photo_id_image_url": "", "error_msg": ""}
_PHOTOS = ("face", "photo_id")
#: How many receipt ids one query looks up.
_RECEIPTS_PER_QUERY = 500


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


# -- photos no attempt needs ----------------------------------------------------------


def orphan_photos(stored_before: datetime) -> list[str]:
    """Stored photos that no attempt needs, written before ``stored_before``.

    A photo (``face/<receipt id>`` or ``photo_id/<receipt id>``) is needed
    while an attempt with that receipt id exists whose photos were not
    deleted on purpose and whose learner was not retired. The others were
    left by a submission that failed while storage was down, by attempts
    deleted with their user (the database cascade cannot reach storage), or
    by a deletion that stopped half way. ``stored_before`` keeps submissions
    in progress safe: the face photo is stored before its attempt is saved.
    Raises ``PhotoStorageError`` when the storage cannot be listed.
    """
    from . import storage

    stored = [path for prefix in _PHOTOS for path in storage.stored_photos(prefix)]
    needed = _needed_receipts(_receipt(path) for path in stored)
    return [
        path
        for path in stored
        if _receipt(path) not in needed and storage.photo_stored_at(path) < stored_before
    ]


def delete_orphan_photo(path: str) -> bool:
    """Delete the photo at ``path`` unless an attempt needs it now; True when deleted.

    Checked again just before deleting. Raises ``PhotoStorageError``.
    """
    from . import storage

    if _needed_receipts([_receipt(path)]):
        return False
    storage.delete_photo(path)
    log.info("Orphan photo %s deleted.", path)
    return True


def _receipt(path: str) -> str:
    return path.split("/", 1)[1]


def _needed_receipts(receipts: Iterable[str]) -> set[str]:
    """Those ``receipts`` whose attempt still needs its photos."""
    pending = list(dict.fromkeys(receipts))
    needed: set[str] = set()
    for start in range(0, len(pending), _RECEIPTS_PER_QUERY):
        chunk = pending[start : start + _RECEIPTS_PER_QUERY]
        needed.update(
            Attempt.objects.filter(
                receipt_id__in=chunk, photos_deleted_at__isnull=True, retired_at__isnull=True
            ).values_list("receipt_id", flat=True)
        )
    return needed
