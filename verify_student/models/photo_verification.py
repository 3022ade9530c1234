"""The attempt state machine: ``PhotoVerification`` and its transition decorator."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists
from django.utils import timezone
from django.utils.translation import gettext as _
from model_utils.models import StatusModel

from .. import statuses
from ..conf import app_settings
from ..exceptions import VerificationException

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


#: ``error_code`` of a denial decided by staff, whose ``error_msg`` is for the learner.
STAFF_ERROR_CODE = "staff"


def generateUUID() -> str:
    """A random receipt id, so reviewers never see guessable user ids."""
    return str(uuid.uuid4())


def status_before_must_be(*valid_start_statuses: str) -> Callable[[F], F]:
    """Run the method only when the attempt is in one of ``valid_start_statuses``.

    As the original, but the check is made against the row's status in the
    database, read under a row lock (``select_for_update``) held until the
    method returns: two concurrent transitions of one attempt run one after
    the other, and the second sees what the first decided.
    """

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def with_status_check(obj: PhotoVerification, *args: Any, **kwargs: Any) -> Any:
            with transaction.atomic(using=obj._state.db):
                if obj.pk is not None:
                    obj._lock_and_refresh_status()
                if obj.status not in valid_start_statuses:
                    raise VerificationException(
                        f"Error calling {func.__name__} on attempt {obj.pk}: status is "
                        f"{obj.status!r}, must be one of: {', '.join(valid_start_statuses)}"
                    )
                return func(obj, *args, **kwargs)

        return with_status_check  # type: ignore[return-value]

    return decorator


def _transition(name: str) -> Callable[[F], F]:
    return status_before_must_be(*statuses.ALLOWED_FROM[name])


def _default_full_name(user: Any) -> str:
    profile_name = getattr(getattr(user, "profile", None), "name", "")
    return profile_name or user.get_full_name() or user.get_username()


class PhotoVerification(StatusModel):
    """One learner's attempt to prove their identity with a face and an ID photo.

    Statuses (``statuses.STATUS``): ``created`` (images being uploaded),
    ``ready`` (the learner confirmed them), ``submitted`` (sent for review),
    ``must_retry`` (the submission failed for a non-user reason),
    ``approved`` and ``denied`` (``error_msg`` says why). ``StatusModel``
    also gives a manager per status, e.g. ``SoftwareSecurePhotoVerification.submitted``.
    """

    STATUS = statuses.STATUS

    objects = models.Manager()

    # -- set at creation ------------------------------------------------------------
    user = models.ForeignKey(settings.AUTH_USER_MODEL, db_index=True, on_delete=models.CASCADE)
    # The legal name, copied from the profile at mark_ready (it may change later).
    name = models.CharField(blank=True, max_length=255)
    face_image_url = models.URLField(blank=True, max_length=255)
    photo_id_image_url = models.URLField(blank=True, max_length=255)
    # Random, so the reviewer's callback never exposes or guesses user ids.
    receipt_id = models.CharField(db_index=True, default=generateUUID, max_length=255)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # Deprecated in the original; kept so the table keeps its columns.
    display = models.BooleanField(db_index=True, default=True)

    # -- set when submitting ---------------------------------------------------------
    submitted_at = models.DateTimeField(null=True, db_index=True)

    # -- set on approval or denial ---------------------------------------------------
    reviewing_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_index=True,
        default=None,
        null=True,
        on_delete=models.SET_NULL,
        related_name="photo_verifications_reviewed",
    )
    reviewing_service = models.CharField(blank=True, max_length=255)
    error_msg = models.TextField(blank=True)
    error_code = models.CharField(blank=True, max_length=50)

    # -- privacy (api.retire_user, api.delete_verification_photos) -----------------------
    # Set when the learner's account was retired: the name, image URLs, key and
    # reason are blanked, and status queries no longer count the attempt.
    retired_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Set when the stored photos were deleted on purpose (retention or retirement).
    photos_deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.pk} ({self.status}, receipt {self.receipt_id})"

    # -- locking ------------------------------------------------------------------------
    def _lock_and_refresh_status(self) -> None:
        """Lock this row and take its current status and error from the database."""
        current = (
            type(self)
            ._default_manager.using(self._state.db)
            .select_for_update()
            .values_list("status", "status_changed", "error_msg", "error_code")
            .get(pk=self.pk)
        )
        self.status, self.status_changed, self.error_msg, self.error_code = current

    def _save_transition(self, *fields: str) -> None:
        self.save(update_fields=["status", "status_changed", "updated_at", *fields])

    # -- queries ------------------------------------------------------------------------
    @classmethod
    def unretired(cls) -> models.QuerySet[Any]:
        """Attempts of learners who were not retired: the only ones status queries count."""
        return cls.objects.filter(retired_at__isnull=True)

    @classmethod
    def _earliest_allowed_date(cls) -> datetime:
        """Attempts created before this have expired (``DAYS_GOOD_FOR``)."""
        return timezone.now() - timedelta(days=app_settings.DAYS_GOOD_FOR)

    @classmethod
    def user_is_verified(cls, user: Any, earliest_allowed_date: datetime | None = None) -> bool:
        """Whether the user has an approved attempt that has not expired."""
        return (
            cls.unretired()
            .filter(
                user=user,
                status=statuses.APPROVED,
                created_at__gte=earliest_allowed_date or cls._earliest_allowed_date(),
            )
            .exists()
        )

    @classmethod
    def verification_valid_or_pending(
        cls,
        user: Any,
        earliest_allowed_date: datetime | None = None,
        queryset: models.QuerySet[Any] | None = None,
    ) -> models.QuerySet[Any]:
        """Attempts that are or might be good (submitted, approved, must_retry), newest first."""
        if queryset is None:
            queryset = cls.unretired().filter(user=user)
        return queryset.filter(
            status__in=statuses.VALID_OR_PENDING,
            created_at__gte=earliest_allowed_date or cls._earliest_allowed_date(),
        ).order_by("-created_at")

    @classmethod
    def get_expiration_datetime(
        cls, user: Any, queryset: models.QuerySet[Any] | None = None
    ) -> datetime | None:
        """Expiry of the user's most recent approved attempt, or None."""
        if queryset is None:
            queryset = cls.unretired().filter(user=user)
        approved = queryset.filter(status=statuses.APPROVED).order_by("-created_at").first()
        return approved.expiration_datetime if approved else None

    @classmethod
    def user_has_valid_or_pending(
        cls,
        user: Any,
        earliest_allowed_date: datetime | None = None,
        queryset: models.QuerySet[Any] | None = None,
    ) -> bool:
        """Whether the user has an attempt that is approved or still under way."""
        return cls.verification_valid_or_pending(user, earliest_allowed_date, queryset).exists()

    @classmethod
    def active_for_user(cls, user: Any) -> PhotoVerification | None:
        """The most recent attempt marked ready but not yet submitted."""
        return (
            cls.unretired().filter(user=user, status=statuses.READY).order_by("-created_at").first()
        )

    @classmethod
    def user_status(cls, user: Any) -> tuple[str, str]:
        """``(status, error_msg)``: none, expired, approved, pending or must_reverify.

        One query whatever the number of attempts (see ``status_and_latest_attempt``).
        """
        status, error_msg, _latest = cls.status_and_latest_attempt(user)
        return status, error_msg

    @classmethod
    def status_and_latest_attempt(cls, user: Any) -> tuple[str, str, PhotoVerification | None]:
        """``user_status`` plus the attempt it was read from, in one query.

        The query fetches the most recently updated attempt with two EXISTS
        flags: an unexpired approved attempt, and an unexpired pending one.
        """
        earliest = cls._earliest_allowed_date()
        window = cls.unretired().filter(user=user, created_at__gte=earliest)
        latest = (
            cls.unretired()
            .filter(user=user)
            .annotate(
                _approved=Exists(window.filter(status=statuses.APPROVED)),
                _pending=Exists(window.filter(status__in=statuses.VALID_OR_PENDING)),
            )
            .order_by("-updated_at")
            .first()
        )
        if latest is None:
            return ("none", "", None)
        if latest._approved:  # type: ignore[attr-defined]  # annotated by the query
            return ("approved", "", latest)
        if latest._pending:  # type: ignore[attr-defined]
            return ("pending", "", latest)
        if latest.created_at < earliest:
            message = _("Your {platform_name} verification has expired.").format(
                platform_name=app_settings.platform_name
            )
            return ("expired", message, latest)
        if latest.status == statuses.DENIED:
            return ("must_reverify", latest.parsed_error_msg() if latest.error_msg else "", latest)
        return ("none", "", latest)

    @classmethod
    def verification_for_datetime(
        cls, deadline: datetime | None, candidates: Sequence[PhotoVerification]
    ) -> PhotoVerification | None:
        """The newest candidate that was active at ``deadline`` (status not considered).

        Candidates are expected newest first; with no deadline the first one
        is returned.
        """
        if len(candidates) == 0:
            return None
        if deadline is None:
            return candidates[0]
        for verification in candidates:
            if verification.active_at_datetime(deadline):
                return verification
        return None

    @property
    def expiration_datetime(self) -> datetime:
        """When this attempt stops counting (``created_at`` + ``DAYS_GOOD_FOR``)."""
        return self.created_at + timedelta(days=app_settings.DAYS_GOOD_FOR)

    def active_at_datetime(self, deadline: datetime) -> bool:
        """Created before ``deadline`` and not yet expired (as the original)."""
        return self.created_at < deadline and self.expiration_datetime > timezone.now()

    def parsed_error_msg(self) -> str:
        """The error message made readable; the base class returns it as is."""
        return self.error_msg

    @classmethod
    def verification_status_for_user(
        cls, user: Any, course_id: Any, user_enrollment_mode: str
    ) -> str:
        """The grade report's column: 'N/A', 'ID Verified' or 'Not ID Verified'."""
        if user_enrollment_mode not in app_settings.VERIFIED_MODES:
            return "N/A"
        return "ID Verified" if cls.user_is_verified(user) else "Not ID Verified"

    @classmethod
    def is_verification_expiring_soon(cls, expiration_datetime: datetime | None) -> bool:
        """Whether expiry falls within ``EXPIRING_SOON_WINDOW`` days."""
        if not expiration_datetime:
            return False
        days_left = (expiration_datetime - timezone.now()).days
        return days_left <= app_settings.EXPIRING_SOON_WINDOW

    # -- transitions ----------------------------------------------------------------------
    @_transition("upload_face_image")
    def upload_face_image(self, img: bytes) -> None:
        raise NotImplementedError

    @_transition("upload_photo_id_image")
    def upload_photo_id_image(self, img: bytes) -> None:
        raise NotImplementedError

    @_transition("mark_ready")
    def mark_ready(self) -> None:
        """created -> ready: the learner confirmed the photos; their name is copied now."""
        resolver = app_settings.FULL_NAME_RESOLVER or _default_full_name
        self.name = resolver(self.user)
        self.status = statuses.READY
        self.save()

    def _record_review(
        self,
        status: str,
        error_msg: str,
        error_code: str,
        reviewing_user: Any,
        reviewing_service: str,
    ) -> None:
        log.info(
            "Verification attempt %s %s by user %s / service %r (code %r).",
            self.pk,
            status,
            getattr(reviewing_user, "pk", reviewing_user),
            reviewing_service,
            error_code,
        )
        self.error_msg = error_msg
        self.error_code = error_code
        self.reviewing_user = reviewing_user
        self.reviewing_service = reviewing_service
        self.status = status
        self._save_transition("error_msg", "error_code", "reviewing_user", "reviewing_service")

    @_transition("approve")
    def approve(self, user_id: Any = None, service: str = "") -> None:
        """Approve (from submitted, must_retry, denied); approving twice is a no-op.

        ``user_id`` is the reviewing User (the original's parameter name).
        """
        self._approve(user_id, service)

    def _approve(self, reviewing_user: Any, service: str) -> None:
        if self.status != statuses.APPROVED:
            self._record_review(statuses.APPROVED, "", "", reviewing_user, service)

    @_transition("deny")
    def deny(
        self,
        error_msg: str,
        error_code: str = "",
        reviewing_user: Any = None,
        reviewing_service: str = "",
    ) -> None:
        """Deny (also overrides an approval, or amends a denial's message)."""
        self._record_review(
            statuses.DENIED, error_msg, error_code, reviewing_user, reviewing_service
        )

    @_transition("system_error")
    def system_error(
        self,
        error_msg: str,
        error_code: str = "",
        reviewing_user: Any = None,
        reviewing_service: str = "",
    ) -> None:
        """The reviewer could not process the attempt -> must_retry (no-op once decided)."""
        self._system_error(error_msg, error_code, reviewing_user, reviewing_service)

    def _system_error(
        self, error_msg: str, error_code: str, reviewing_user: Any, reviewing_service: str
    ) -> None:
        if self.status not in statuses.DECIDED:
            self._record_review(
                statuses.MUST_RETRY, error_msg, error_code, reviewing_user, reviewing_service
            )
