"""In-course re-verification: checkpoints, the status log, skipped checkpoints."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy
from opaque_keys.edx.django.models import CourseKeyField
from opaque_keys.edx.keys import CourseKey

from ..conf import app_settings
from .deadlines import _course_key

if TYPE_CHECKING:
    from .software_secure import SoftwareSecurePhotoVerification


class VerificationCheckpoint(models.Model):
    """A point in a course at which a learner is asked to re-verify.

    Unique per (course_id, checkpoint_location).
    """

    course_id = CourseKeyField(max_length=255, db_index=True)
    checkpoint_location = models.CharField(max_length=255)
    photo_verification: models.ManyToManyField[SoftwareSecurePhotoVerification, Any] = (
        models.ManyToManyField("SoftwareSecurePhotoVerification")
    )

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
        verbose_name = gettext_lazy("Verification Status")
        verbose_name_plural = gettext_lazy("Verification Statuses")

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
