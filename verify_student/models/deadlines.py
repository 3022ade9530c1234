"""Verification deadlines per course, with history, cached per course."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import models
from django.utils.translation import gettext_lazy
from model_utils.models import TimeStampedModel
from opaque_keys.edx.django.models import CourseKeyField
from opaque_keys.edx.keys import CourseKey
from simple_history.models import HistoricalRecords


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
        verbose_name = gettext_lazy("verification deadline")

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
