"""Models for student identity verification.

A ``PhotoVerification`` is one attempt by a learner to prove who they are
with a photo of their face and of a photo ID. It moves through a small state
machine (``statuses.ALLOWED_FROM``): created -> ready -> submitted ->
approved / denied / must_retry. Edit attempts only through the transition
methods: each locks its row, re-reads the status from the database and
refuses (``VerificationException``) a transition from the wrong status,
changing nothing.

Models do no network or storage I/O themselves: encrypted photos go through
``storage.py`` and submissions through ``client.py``; the methods that kept
the original's names (``upload_face_image``, ``submit``, ``image_url``...)
delegate to them.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from config_models.models import ConfigurationModel
from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.db.models import Exists
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from model_utils.models import StatusModel, TimeStampedModel
from opaque_keys.edx.django.models import CourseKeyField
from opaque_keys.edx.keys import CourseKey
from simple_history.models import HistoricalRecords

from . import statuses
from .conf import app_settings
from .exceptions import VerificationException

__all__ = [
    "IcrvStatusEmailsConfiguration",
    "InCourseReverificationConfiguration",
    "PhotoReviewAccess",
    "PhotoVerification",
    "SkippedReverification",
    "SoftwareSecurePhotoVerification",
    "VerificationCheckpoint",
    "VerificationDeadline",
    "VerificationException",
    "VerificationStatus",
    "status_before_must_be",
]

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


class _HistoricalStatusBase(models.Model):
    """Gives the history table the STATUS choices its copied StatusField needs."""

    STATUS = statuses.STATUS

    class Meta:
        abstract = True


class SoftwareSecurePhotoVerification(PhotoVerification):
    """An attempt reviewed by Software Secure, with its photos encrypted.

    1. The face photo is AES-256-CBC encrypted with the site-wide
       ``FACE_IMAGE_AES_KEY``, which the reviewer also holds (sent sealed
       with the reviewer's RSA key).
    2. The photo ID gets a fresh random AES key per attempt; that key is
       sealed with the reviewer's RSA public key and only the sealed form is
       kept (``photo_id_key``), so this site cannot read the ID photo back.
    3. Both are stored URL-safe base64 encoded at ``face/<receipt_id>`` and
       ``photo_id/<receipt_id>`` in the configured storage (S3 by default).

    This model handles *initial* verifications.
    """

    # base64(rsa_encrypt(photo ID AES key)), MIME-style lines; about 350 characters.
    photo_id_key = models.TextField(max_length=1024)
    copy_id_photo_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    # When the learner was told this verification expired (once per expiry).
    expiry_email_date = models.DateTimeField(null=True, blank=True, db_index=True)

    IMAGE_LINK_DURATION = 5 * 60 * 60 * 24  # 5 days, in seconds

    history = HistoricalRecords(excluded_fields=["photo_id_key"], bases=[_HistoricalStatusBase])

    class Meta(PhotoVerification.Meta):
        abstract = False
        verbose_name = "Software Secure photo verification"
        permissions = [
            ("review_photos", "Can view decrypted verification photos"),
            ("export_verification_data", "Can export a learner's verification records"),
        ]
        indexes = [
            models.Index(fields=["user", "status", "created_at"], name="vs_sspv_user_status"),
            models.Index(fields=["user", "updated_at"], name="vs_sspv_user_updated"),
        ]

    @classmethod
    def get_initial_verification(
        cls, user: Any, earliest_allowed_date: datetime | None = None
    ) -> SoftwareSecurePhotoVerification | None:
        """The newest submitted or approved, unexpired attempt that has a photo ID key."""
        return (
            cls.unretired()
            .filter(
                user=user,
                status__in=[statuses.SUBMITTED, statuses.APPROVED],
                created_at__gte=earliest_allowed_date or cls._earliest_allowed_date(),
            )
            .exclude(photo_id_key="")
            .order_by("-created_at")
            .first()
        )

    #: The original's alias.
    original_verification = get_initial_verification

    # -- photos (storage I/O lives in storage.py) ------------------------------------------
    @_transition("upload_face_image")
    def upload_face_image(self, img_data: bytes) -> None:
        """Encrypt the face photo with ``FACE_IMAGE_AES_KEY`` and store it."""
        if app_settings.automatic_verify_for_testing:
            return
        from . import ssencrypt, storage

        encrypted = ssencrypt.encrypt_and_encode(img_data, app_settings.face_image_aes_key)
        storage.save_photo(self._get_path("face"), encrypted)

    @_transition("upload_photo_id_image")
    def upload_photo_id_image(self, img_data: bytes) -> None:
        """Encrypt the ID photo with a fresh AES key, store it, keep the sealed key."""
        if app_settings.automatic_verify_for_testing:
            self.photo_id_key = "fake-photo-id-key"
            self.save()
            return
        from . import ssencrypt, storage

        aes_key = ssencrypt.random_aes_key()
        sealed = ssencrypt.rsa_encrypt(aes_key, app_settings.rsa_public_key)
        storage.save_photo(
            self._get_path("photo_id"), ssencrypt.encrypt_and_encode(img_data, aes_key)
        )
        self.photo_id_key = ssencrypt.encode_key_text(sealed)
        self.save()

    def image_url(self, name: str, override_receipt_id: str | None = None) -> str:
        """A signed URL to the stored (encrypted) image, valid ``IMAGE_LINK_DURATION``."""
        from . import storage

        return storage.photo_url(self._get_path(name, override_receipt_id=override_receipt_id))

    @cached_property
    def _storage(self) -> Any:
        from . import storage

        return storage.get_storage()

    def _get_path(self, prefix: str, override_receipt_id: str | None = None) -> str:
        """``<prefix>/<receipt_id>`` (another attempt's receipt id when re-using its ID photo)."""
        receipt_id = self.receipt_id if override_receipt_id is None else override_receipt_id
        return f"{prefix}/{receipt_id}"

    # -- submission (HTTP lives in client.py) ---------------------------------------------
    def submit(self, copy_id_photo_from: SoftwareSecurePhotoVerification | None = None) -> Any:
        """Send the attempt for review: submitted on a 2xx, must_retry otherwise.

        Returns the ``client.SubmissionOutcome``.

        The HTTP request runs with no row lock held; the outcome is then
        recorded by a locked transition.
        """
        if self.pk is not None:  # the stored status, not a stale copy's (no lock held yet)
            self.status, self.retired_at = (
                type(self).objects.filter(pk=self.pk).values_list("status", "retired_at").get()
            )
        if self.retired_at is not None:
            raise VerificationException(
                f"Attempt {self.pk} belongs to a retired learner; it is not sent for review."
            )
        if self.status not in statuses.ALLOWED_FROM["submit"]:
            raise VerificationException(
                f"Error calling submit on attempt {self.pk}: status is {self.status!r}, "
                f"must be one of: {', '.join(statuses.ALLOWED_FROM['submit'])}"
            )
        from .client import submit_attempt

        return submit_attempt(self, copy_id_photo_from=copy_id_photo_from)

    @_transition("submit")
    def mark_submitted(self) -> None:
        """Record that the reviewer accepted the submission."""
        self.submitted_at = timezone.now()
        self.status = statuses.SUBMITTED
        self._save_transition("submitted_at")

    @_transition("submit")
    def mark_must_retry(self, error_msg: str = "") -> None:
        """Record a failed submission, keeping the error (response text or network error)."""
        self.status = statuses.MUST_RETRY
        self.error_msg = error_msg
        self._save_transition("error_msg")

    @_transition("review")
    def apply_review(
        self, decision: str, error_msg: str = "", error_code: str = "", service: str = ""
    ) -> list[VerificationCheckpoint] | None:
        """A review service's verdict: ``approve``, ``deny`` or ``system_error``.

        One locked transaction: the decision, its history row, and a status
        row at each checkpoint the attempt was made for. Returns those
        checkpoints, or None when the verdict repeats what is recorded (then
        nothing is written: a callback sent twice is idempotent).
        """
        before = (self.status, self.error_msg, self.error_code)
        if decision == "approve":
            self._approve(None, service)
            checkpoint_status = VerificationStatus.APPROVED_STATUS
        elif decision == "deny":
            if before != (statuses.DENIED, error_msg, error_code):
                self._record_review(statuses.DENIED, error_msg, error_code, None, service)
            checkpoint_status = VerificationStatus.DENIED_STATUS
        elif decision == "system_error":
            if before != (statuses.MUST_RETRY, error_msg, error_code):
                self._system_error(error_msg, error_code, None, service)
            checkpoint_status = VerificationStatus.ERROR_STATUS
        else:
            raise ValueError(f"Unknown review decision {decision!r}")
        if before == (self.status, self.error_msg, self.error_code):
            return None
        checkpoints = list(VerificationCheckpoint.objects.filter(photo_verification=self))
        if checkpoints:
            VerificationStatus.add_status_from_checkpoints(
                checkpoints, self.user, checkpoint_status
            )
        return checkpoints

    def create_request(
        self, copy_id_photo_from: SoftwareSecurePhotoVerification | None = None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """``(headers, body)`` of the signed submission (see ``client.py``)."""
        from .client import SoftwareSecureClient

        return SoftwareSecureClient().create_request(self, copy_id_photo_from=copy_id_photo_from)

    def send_request(
        self, copy_id_photo_from: SoftwareSecurePhotoVerification | None = None
    ) -> Any:
        """Send the submission and return the ``requests.Response``."""
        from .client import SoftwareSecureClient

        return SoftwareSecureClient().send_request(self, copy_id_photo_from=copy_id_photo_from)

    def request_message_txt(self) -> str:
        """A readable rendering of the request that would be sent (for debugging)."""
        from .client import SoftwareSecureClient

        return SoftwareSecureClient().request_message_txt(self)

    # Reviewer message categories made readable (the original's table).
    ERROR_MESSAGES = {
        ("photoIdReasons", "Not provided"): gettext_lazy("No photo ID was provided."),
        ("photoIdReasons", "Text not clear"): gettext_lazy(
            "We couldn't read your name from your photo ID image."
        ),
        ("generalReasons", "Name mismatch"): gettext_lazy(
            "The name associated with your account and the name on your ID do not match."
        ),
        ("userPhotoReasons", "Image not clear"): gettext_lazy(
            "The image of your face was not clear."
        ),
        ("userPhotoReasons", "Face out of view"): gettext_lazy(
            "Your face was not visible in your self-photo."
        ),
    }

    def parsed_error_msg(self) -> str:
        """Turn ``[{"photoIdReasons": ["Not provided"]}]`` into readable sentences.

        A staff reviewer's reason (``api.review_attempt``) is already written
        for the learner and is returned as it is.
        """
        if self.error_code == STAFF_ERROR_CODE:
            return self.error_msg
        try:
            categories = json.loads(self.error_msg)[0]
            return ", ".join(
                str(self.ERROR_MESSAGES[(category, message)])
                for category, messages in categories.items()
                for message in messages
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            log.error("PhotoVerification %s: could not parse its error message.", self.pk)
            return _("There was an error verifying your ID photos.")


def _course_key(value: CourseKey | str) -> CourseKey:
    return value if isinstance(value, CourseKey) else CourseKey.from_string(str(value))


class VerificationDeadline(TimeStampedModel):
    """The datetime after which learners may no longer submit photos in a course.

    Not the upgrade deadline. A course with no row has no deadline.
    """

    course_key = CourseKeyField(
        max_length=255,
        db_index=True,
        unique=True,
        help_text=gettext_lazy("The course for which this deadline applies"),
    )
    deadline = models.DateTimeField(
        help_text=gettext_lazy(
            "The datetime after which users are no longer allowed "
            "to submit photos for verification."
        )
    )
    # True when set by hand, so automatic updates do not overwrite it.
    deadline_is_explicit = models.BooleanField(default=False)

    history = HistoricalRecords()

    #: Kept for code that used the original's name; deadlines are cached per course now.
    ALL_DEADLINES_CACHE_KEY = "verify_student.all_verification_deadlines"
    _NO_DEADLINE = "none"

    class Meta:
        verbose_name = "verification deadline"

    def __str__(self) -> str:
        return f"Deadline for {self.course_key}: {self.deadline:%Y-%m-%d %H:%M %Z}"

    @staticmethod
    def cache_key_for(course_key: object) -> str:
        return f"verify_student.verification_deadline.{course_key}"

    @classmethod
    def set_deadline(
        cls, course_key: CourseKey | str, deadline: datetime | None, is_explicit: bool = False
    ) -> None:
        """Set (or, with ``deadline=None``, remove) the course's deadline."""
        if deadline is None:
            for record in cls.objects.filter(course_key=_course_key(course_key)):
                record.delete()  # one by one, so history and cache receivers run
            return
        record, created = cls.objects.get_or_create(
            course_key=_course_key(course_key),
            defaults={"deadline": deadline, "deadline_is_explicit": is_explicit},
        )
        if not created:
            record.deadline = deadline
            record.deadline_is_explicit = is_explicit
            record.save()

    @classmethod
    def deadlines_for_courses(cls, course_keys: Iterable[CourseKey | str]) -> dict[Any, datetime]:
        """``{course_key: deadline}`` for the given courses that have one.

        Cached per course (absence too): one query for the courses not in the
        cache, none when all are; only the requested rows are read.
        """
        wanted = {cls.cache_key_for(key): key for key in course_keys}
        cached = cache.get_many(list(wanted))
        missing = {cache_key: key for cache_key, key in wanted.items() if cache_key not in cached}
        if missing:
            rows = dict(
                cls.objects.filter(
                    course_key__in=[_course_key(key) for key in missing.values()]
                ).values_list("course_key", "deadline")
            )
            fresh = {
                cache_key: rows.get(_course_key(key), cls._NO_DEADLINE)
                for cache_key, key in missing.items()
            }
            cache.set_many(fresh)
            cached.update(fresh)
        return {
            key: cached[cache_key]
            for cache_key, key in wanted.items()
            if cached[cache_key] != cls._NO_DEADLINE
        }

    @classmethod
    def deadline_for_course(cls, course_key: CourseKey | str) -> datetime | None:
        """The course's deadline, or None."""
        return cls.deadlines_for_courses([course_key]).get(course_key)


class VerificationCheckpoint(models.Model):
    """A point in a course at which a learner is asked to re-verify.

    Unique per (course_id, checkpoint_location).
    """

    course_id = CourseKeyField(max_length=255, db_index=True)
    checkpoint_location = models.CharField(max_length=255)
    photo_verification = models.ManyToManyField(SoftwareSecurePhotoVerification)

    class Meta:
        unique_together = ("course_id", "checkpoint_location")

    def __str__(self) -> str:
        return f"{self.checkpoint_name} in {self.course_id}"

    @cached_property
    def checkpoint_name(self) -> str:
        """The checkpoint's name from the host hook, or its location."""
        resolver = app_settings.CHECKPOINT_NAME_RESOLVER
        name = resolver(self.checkpoint_location) if resolver else None
        return name or self.checkpoint_location

    def add_verification_attempt(
        self, verification_attempt: SoftwareSecurePhotoVerification
    ) -> None:
        """Link an attempt to this checkpoint."""
        self.photo_verification.add(verification_attempt)

    def get_user_latest_status(self, user_id: int) -> VerificationStatus | None:
        """The user's latest status row at this checkpoint, or None."""
        return self.checkpoint_status.filter(user_id=user_id).order_by("-timestamp", "-pk").first()

    @classmethod
    def get_or_create_verification_checkpoint(
        cls, course_id: CourseKey | str, checkpoint_location: str
    ) -> VerificationCheckpoint:
        """Get or create the checkpoint (race-safe: ``get_or_create`` in a savepoint)."""
        with transaction.atomic():
            checkpoint, _created = cls.objects.get_or_create(
                course_id=_course_key(course_id), checkpoint_location=checkpoint_location
            )
        return checkpoint


class VerificationStatus(models.Model):
    """Append-only log of a user's progress at re-verification checkpoints."""

    SUBMITTED_STATUS = "submitted"
    APPROVED_STATUS = "approved"
    DENIED_STATUS = "denied"
    ERROR_STATUS = "error"
    VERIFICATION_STATUS_CHOICES = (
        (SUBMITTED_STATUS, SUBMITTED_STATUS),
        (APPROVED_STATUS, APPROVED_STATUS),
        (DENIED_STATUS, DENIED_STATUS),
        (ERROR_STATUS, ERROR_STATUS),
    )

    checkpoint = models.ForeignKey(
        VerificationCheckpoint, related_name="checkpoint_status", on_delete=models.CASCADE
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    status = models.CharField(choices=VERIFICATION_STATUS_CHOICES, db_index=True, max_length=32)
    timestamp = models.DateTimeField(auto_now_add=True)
    response = models.TextField(null=True, blank=True)
    error = models.TextField(null=True, blank=True)

    class Meta:
        get_latest_by = "timestamp"
        verbose_name = "Verification Status"
        verbose_name_plural = "Verification Statuses"

    def __str__(self) -> str:
        return f"{self.status} for user {self.user_id} at checkpoint {self.checkpoint_id}"

    @classmethod
    def add_verification_status(
        cls, checkpoint: VerificationCheckpoint, user: Any, status: str
    ) -> None:
        """Append a status row."""
        cls.objects.create(checkpoint=checkpoint, user=user, status=status)

    @classmethod
    def add_status_from_checkpoints(
        cls, checkpoints: Iterable[VerificationCheckpoint], user: Any, status: str
    ) -> None:
        """Append the same status at each checkpoint."""
        for checkpoint in checkpoints:
            cls.objects.create(checkpoint=checkpoint, user=user, status=status)

    @classmethod
    def get_user_status_at_checkpoint(
        cls, user: Any, course_key: CourseKey | str, location: Any
    ) -> str | None:
        """The user's latest status at the checkpoint, or None."""
        latest = (
            cls.objects.filter(
                user=user,
                checkpoint__course_id=_course_key(course_key),
                checkpoint__checkpoint_location=str(location),
            )
            .order_by("-timestamp", "-pk")
            .first()
        )
        return latest.status if latest else None

    @classmethod
    def get_user_attempts(
        cls, user_id: int, course_key: CourseKey | str, checkpoint_location: str
    ) -> int:
        """How many times the user submitted at the checkpoint."""
        return cls.objects.filter(
            user_id=user_id,
            checkpoint__course_id=_course_key(course_key),
            checkpoint__checkpoint_location=checkpoint_location,
            status=cls.SUBMITTED_STATUS,
        ).count()

    @classmethod
    def get_location_id(cls, photo_verification: SoftwareSecurePhotoVerification) -> str:
        """Location of the checkpoint the attempt was made for, or ''."""
        latest = (
            cls.objects.filter(checkpoint__photo_verification=photo_verification)
            .select_related("checkpoint")
            .order_by("-timestamp", "-pk")
            .first()
        )
        return latest.checkpoint.checkpoint_location if latest else ""

    @classmethod
    def get_all_checkpoints(cls, user_id: int, course_key: CourseKey | str) -> dict[str, str]:
        """``{checkpoint_location: status}`` for the user in the course (latest wins)."""
        rows = (
            cls.objects.filter(user_id=user_id, checkpoint__course_id=_course_key(course_key))
            .order_by("timestamp", "pk")
            .values_list("checkpoint__checkpoint_location", "status")
        )
        return dict(rows)

    @classmethod
    def cache_key_name(cls, user_id: int, course_key: object) -> str:
        return f"verification.{user_id}.{course_key}"


class InCourseReverificationConfiguration(ConfigurationModel):
    """Turns in-course re-verification on or off (deprecated in the original, kept)."""


class IcrvStatusEmailsConfiguration(ConfigurationModel):
    """Turns in-course re-verification (ICRV) status emails on; off by default."""


class SkippedReverification(models.Model):
    """A user skipped a re-verification checkpoint in a course (one per user and course)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    course_id = CourseKeyField(max_length=255, db_index=True)
    checkpoint = models.ForeignKey(
        VerificationCheckpoint, related_name="skipped_checkpoint", on_delete=models.CASCADE
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        unique_together = (("user", "course_id"),)

    def __str__(self) -> str:
        return f"user {self.user_id} skipped {self.checkpoint_id} in {self.course_id}"

    @classmethod
    @transaction.atomic
    def add_skipped_reverification_attempt(
        cls, checkpoint: VerificationCheckpoint, user_id: int, course_id: CourseKey | str
    ) -> None:
        """Record the skip."""
        cls.objects.create(checkpoint=checkpoint, user_id=user_id, course_id=_course_key(course_id))

    @classmethod
    def check_user_skipped_reverification_exists(
        cls, user_id: int, course_id: CourseKey | str
    ) -> bool:
        """Whether the user skipped re-verification in the course."""
        return cls.objects.filter(user_id=user_id, course_id=_course_key(course_id)).exists()

    @classmethod
    def cache_key_name(cls, user_id: int, course_key: object) -> str:
        return f"skipped_reverification.{user_id}.{course_key}"


class PhotoReviewAccess(models.Model):
    """One viewing of an attempt's decrypted photo by staff, kept as an audit trail.

    Written by the admin's review page each time it serves an image; who
    decided is kept on the attempt itself (``reviewing_user`` and its history).
    """

    FACE = "face"
    PHOTO_ID = "photo_id"
    IMAGE_CHOICES = ((FACE, "face photo"), (PHOTO_ID, "photo ID"))

    attempt = models.ForeignKey(
        SoftwareSecurePhotoVerification, related_name="review_accesses", on_delete=models.CASCADE
    )
    # Kept when the staff account is removed: the log must outlive it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="photo_review_accesses",
    )
    image = models.CharField(max_length=16, choices=IMAGE_CHOICES)
    viewed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-viewed_at", "-pk"]
        verbose_name = "photo review access"
        verbose_name_plural = "photo review accesses"

    def __str__(self) -> str:
        return f"{self.image} of attempt {self.attempt_id} viewed by user {self.user_id}"
