"""Verification deadlines: set, history, and the per-course cache."""

from datetime import UTC, datetime, timedelta

import pytest
from opaque_keys.edx.keys import CourseKey

from tests.factories import VerificationDeadlineFactory
from verify_student.models import VerificationDeadline

pytestmark = pytest.mark.django_db

COURSE = CourseKey.from_string("course-v1:Org+Course+Run")
OTHER = CourseKey.from_string("course-v1:Org+Other+Run")
WHEN = datetime(2030, 1, 1, tzinfo=UTC)


def test_set_deadline_creates_updates_and_removes():
    VerificationDeadline.set_deadline(COURSE, WHEN)
    record = VerificationDeadline.objects.get(course_key=COURSE)
    assert (record.deadline, record.deadline_is_explicit) == (WHEN, False)

    VerificationDeadline.set_deadline(COURSE, WHEN + timedelta(days=1), is_explicit=True)
    record.refresh_from_db()
    assert (record.deadline, record.deadline_is_explicit) == (WHEN + timedelta(days=1), True)

    VerificationDeadline.set_deadline(COURSE, None)
    assert not VerificationDeadline.objects.filter(course_key=COURSE).exists()


def test_history_records_every_change():
    VerificationDeadline.set_deadline(COURSE, WHEN)
    VerificationDeadline.set_deadline(COURSE, WHEN + timedelta(days=2))
    VerificationDeadline.set_deadline(COURSE, None)
    history = VerificationDeadline.history.filter(course_key=COURSE).order_by("history_id")
    assert [h.history_type for h in history] == ["+", "~", "-"]
    assert [h.deadline for h in history] == [
        WHEN,
        WHEN + timedelta(days=2),
        WHEN + timedelta(days=2),
    ]


def test_deadlines_for_courses_only_those_with_a_deadline():
    VerificationDeadline.set_deadline(COURSE, WHEN)
    assert VerificationDeadline.deadlines_for_courses([COURSE, OTHER]) == {COURSE: WHEN}
    assert VerificationDeadline.deadlines_for_courses([]) == {}


def test_deadlines_cached_one_query_cold_zero_warm(django_assert_num_queries):
    VerificationDeadline.set_deadline(COURSE, WHEN)
    for _ in range(20):
        VerificationDeadlineFactory()
    with django_assert_num_queries(1):
        assert VerificationDeadline.deadlines_for_courses([COURSE, OTHER]) == {COURSE: WHEN}
    with django_assert_num_queries(0):
        assert VerificationDeadline.deadlines_for_courses([COURSE, OTHER]) == {COURSE: WHEN}
    with django_assert_num_queries(0):
        assert VerificationDeadline.deadline_for_course(COURSE) == WHEN
        assert VerificationDeadline.deadline_for_course(OTHER) is None


def test_cache_is_fresh_after_save_and_delete(django_assert_num_queries):
    VerificationDeadline.set_deadline(COURSE, WHEN)
    assert VerificationDeadline.deadlines_for_courses([COURSE, OTHER]) == {COURSE: WHEN}

    record = VerificationDeadline.objects.get(course_key=COURSE)
    record.deadline = WHEN + timedelta(days=3)
    record.save()
    VerificationDeadline.objects.create(course_key=OTHER, deadline=WHEN)
    with django_assert_num_queries(1):
        assert VerificationDeadline.deadlines_for_courses([COURSE, OTHER]) == {
            COURSE: WHEN + timedelta(days=3),
            OTHER: WHEN,
        }

    VerificationDeadline.objects.filter(course_key=OTHER).delete()
    assert VerificationDeadline.deadlines_for_courses([COURSE, OTHER]) == {
        COURSE: WHEN + timedelta(days=3)
    }


def test_only_requested_courses_are_read(django_assert_num_queries, settings):
    VerificationDeadline.set_deadline(COURSE, WHEN)
    for _ in range(30):
        VerificationDeadlineFactory()
    with django_assert_num_queries(1) as ctx:
        VerificationDeadline.deadlines_for_courses([COURSE])
    sql = ctx.captured_queries[0]["sql"]
    assert "IN" in sql.upper()


def test_string_course_keys_accepted():
    VerificationDeadline.set_deadline(str(COURSE), WHEN)
    assert VerificationDeadline.deadline_for_course(str(COURSE)) == WHEN
    assert VerificationDeadline.deadline_for_course(COURSE) == WHEN


def test_str():
    record = VerificationDeadline(course_key=COURSE, deadline=WHEN)
    assert str(COURSE) in str(record)
