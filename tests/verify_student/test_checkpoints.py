"""Re-verification checkpoints, statuses, skips, and their cache receivers."""

import pytest
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.test import override_settings
from opaque_keys.edx.keys import CourseKey

from tests.factories import SoftwareSecurePhotoVerificationFactory, UserFactory
from verify_student.models import (
    SkippedReverification,
    VerificationCheckpoint,
    VerificationStatus,
)

pytestmark = pytest.mark.django_db

COURSE = CourseKey.from_string("course-v1:Org+Course+Run")
LOCATION = "block-v1:Org+Course+Run+type@edx-reverification-block+block@midterm"
FINAL = "block-v1:Org+Course+Run+type@edx-reverification-block+block@final"


@pytest.fixture
def checkpoint():
    return VerificationCheckpoint.get_or_create_verification_checkpoint(COURSE, LOCATION)


def test_get_or_create_is_idempotent(checkpoint):
    again = VerificationCheckpoint.get_or_create_verification_checkpoint(str(COURSE), LOCATION)
    assert again == checkpoint
    assert VerificationCheckpoint.objects.count() == 1


def test_unique_per_course_and_location(checkpoint):
    with pytest.raises(IntegrityError), transaction.atomic():
        VerificationCheckpoint.objects.create(course_id=COURSE, checkpoint_location=LOCATION)


def test_checkpoint_name_defaults_to_location_and_uses_the_hook(checkpoint):
    assert checkpoint.checkpoint_name == LOCATION
    assert str(checkpoint) == f"{LOCATION} in {COURSE}"
    with override_settings(
        VERIFY_STUDENT={"CHECKPOINT_NAME_RESOLVER": "tests.verify_student.hooks.checkpoint_name"}
    ):
        fresh = VerificationCheckpoint.objects.get(pk=checkpoint.pk)
        assert fresh.checkpoint_name == "Midterm check (midterm)"


def test_attempts_and_statuses(checkpoint, user):
    attempt = SoftwareSecurePhotoVerificationFactory(user=user)
    checkpoint.add_verification_attempt(attempt)
    assert list(checkpoint.photo_verification.all()) == [attempt]

    assert checkpoint.get_user_latest_status(user.id) is None
    assert VerificationStatus.get_user_status_at_checkpoint(user, COURSE, LOCATION) is None

    VerificationStatus.add_verification_status(checkpoint, user, "submitted")
    VerificationStatus.add_verification_status(checkpoint, user, "approved")
    assert checkpoint.get_user_latest_status(user.id).status == "approved"
    assert VerificationStatus.get_user_status_at_checkpoint(user, COURSE, LOCATION) == "approved"
    assert VerificationStatus.get_user_attempts(user.id, COURSE, LOCATION) == 1
    assert VerificationStatus.get_location_id(attempt) == LOCATION
    other_attempt = SoftwareSecurePhotoVerificationFactory(user=user)
    assert VerificationStatus.get_location_id(other_attempt) == ""


def test_add_status_from_checkpoints_and_all_checkpoints(checkpoint, user):
    final = VerificationCheckpoint.get_or_create_verification_checkpoint(COURSE, FINAL)
    VerificationStatus.add_status_from_checkpoints([checkpoint, final], user, "submitted")
    VerificationStatus.add_verification_status(final, user, "denied")
    assert VerificationStatus.get_all_checkpoints(user.id, COURSE) == {
        LOCATION: "submitted",
        FINAL: "denied",
    }
    assert VerificationStatus.get_all_checkpoints(UserFactory().id, COURSE) == {}


def test_status_cache_invalidated_on_save_and_delete(checkpoint, user):
    key = VerificationStatus.cache_key_name(user.id, str(COURSE))
    cache.set(key, "stale")
    status = VerificationStatus.objects.create(checkpoint=checkpoint, user=user, status="error")
    assert cache.get(key) is None
    cache.set(key, "stale")
    status.delete()
    assert cache.get(key) is None
    cache.set(key, "stale")
    VerificationStatus.objects.create(checkpoint=checkpoint, user=user, status="error")
    checkpoint.delete()  # cascades; the receiver copes with the checkpoint going too
    assert not VerificationStatus.objects.exists()


def test_skipped_reverification(checkpoint, user):
    assert not SkippedReverification.check_user_skipped_reverification_exists(user.id, COURSE)
    key = SkippedReverification.cache_key_name(user.id, str(COURSE))
    cache.set(key, False)
    SkippedReverification.add_skipped_reverification_attempt(checkpoint, user.id, COURSE)
    assert cache.get(key) is None
    assert SkippedReverification.check_user_skipped_reverification_exists(user.id, str(COURSE))
    with pytest.raises(IntegrityError):
        SkippedReverification.add_skipped_reverification_attempt(checkpoint, user.id, COURSE)
    cache.set(key, True)
    SkippedReverification.objects.get(user=user).delete()
    assert cache.get(key) is None
