"""``IDVerificationService``: what the rest of an LMS asks about a learner's verification.

Each call reads a fixed, small number of rows whatever the number of attempts
a learner has; ``get_verified_user_ids`` answers for any number of users in
one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypedDict

from django.db.models import Model, QuerySet

from . import statuses
from .models import SoftwareSecurePhotoVerification


class UserStatus(TypedDict):
    status: str
    error: str
    should_display: bool
    status_date: datetime | None
    verification_expiry: datetime | None


def _user_ids(users: Iterable[Any] | QuerySet[Any]) -> QuerySet[Any] | list[Any]:
    if isinstance(users, QuerySet):
        return users.values("pk") if issubclass(users.model, Model) else users
    return [getattr(user, "pk", user) for user in users]


class IDVerificationService:
    """Learner verification status queries (a facade over the attempt models)."""

    model = SoftwareSecurePhotoVerification

    @classmethod
    def user_is_verified(cls, user: Any) -> bool:
        """Whether the user holds an approved, unexpired verification (one query)."""
        return cls.model.user_is_verified(user)

    @classmethod
    def user_has_valid_or_pending(cls, user: Any) -> bool:
        """Whether the user has an approved or still pending attempt."""
        return cls.model.user_has_valid_or_pending(user)

    @classmethod
    def verifications_for_user(cls, user: Any) -> list[SoftwareSecurePhotoVerification]:
        """All the user's attempts, newest first (a retired learner's count as none)."""
        return list(cls.model.unretired().filter(user=user).order_by("-created_at"))

    @classmethod
    def get_expiration_datetime(cls, user: Any) -> datetime | None:
        """When the user's latest approved verification expires, or None."""
        return cls.model.get_expiration_datetime(user)

    @classmethod
    def get_verified_user_ids(cls, users: Iterable[Any] | QuerySet[Any]) -> set[int]:
        """Ids of those ``users`` (Users, ids or a queryset) who are verified: one query."""
        return set(
            cls.model.unretired()
            .filter(
                user__in=_user_ids(users),
                status=statuses.APPROVED,
                created_at__gte=cls.model._earliest_allowed_date(),
            )
            .values_list("user_id", flat=True)
            .distinct()
        )

    @classmethod
    def user_status(cls, user: Any) -> UserStatus:
        """The learner's status as a dict (at most two queries).

        ``status`` is none, pending, approved, expired or must_reverify;
        ``error`` the readable reason of a denial or expiry; ``status_date``
        when the latest attempt last changed; ``verification_expiry`` when an
        approved verification runs out.
        """
        status, error, latest = cls.model.status_and_latest_attempt(user)
        return {
            "status": status,
            "error": error,
            "should_display": True,
            "status_date": latest.updated_at if latest else None,
            "verification_expiry": (
                cls.model.get_expiration_datetime(user) if status == "approved" else None
            ),
        }

    @classmethod
    def verification_status_for_user(
        cls, user: Any, user_enrollment_mode: str, course_id: Any = None
    ) -> str:
        """The grade report's column: 'N/A', 'ID Verified' or 'Not ID Verified'."""
        return cls.model.verification_status_for_user(user, course_id, user_enrollment_mode)
