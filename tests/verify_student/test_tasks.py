"""The submission task's retry policy against a real reviewer on 127.0.0.1."""

import copy

import pytest

from tests.factories import SoftwareSecurePhotoVerificationFactory
from verify_student.tasks import send_request_to_ss_for_user

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 20


@pytest.fixture
def ready_attempt(user, s3_photos):
    attempt = SoftwareSecurePhotoVerificationFactory(user=user, status="created")
    attempt.upload_face_image(PNG)
    attempt.upload_photo_id_image(PNG)
    attempt.mark_ready()
    return attempt


@pytest.fixture
def two_retries(settings, eager_retries):
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    config.update(SUBMISSION_MAX_RETRIES=2, SUBMISSION_RETRY_BACKOFF=1)
    settings.VERIFY_STUDENT = config


def test_success_submits_once(ready_attempt, reviewer):
    assert send_request_to_ss_for_user.delay(ready_attempt.pk).get() == "submitted"
    assert len(reviewer.received) == 1
    # Run twice: the second run sends nothing.
    assert send_request_to_ss_for_user.delay(ready_attempt.pk).get() == "submitted"
    assert len(reviewer.received) == 1


def test_5xx_is_retried_then_left_must_retry_with_the_error(ready_attempt, reviewer, two_retries):
    reviewer.answer(503, "maintenance")
    send_request_to_ss_for_user.delay(ready_attempt.pk)
    assert len(reviewer.received) == 3  # the first try and two retries
    ready_attempt.refresh_from_db()
    assert (ready_attempt.status, ready_attempt.error_msg) == ("must_retry", "maintenance")

    reviewer.answer(200, "OK")  # the service is back: a later run recovers the attempt
    send_request_to_ss_for_user.delay(ready_attempt.pk)
    ready_attempt.refresh_from_db()
    assert ready_attempt.status == "submitted"


def test_4xx_is_not_retried(ready_attempt, reviewer, two_retries):
    reviewer.answer(400, "ExpectedName missing")
    send_request_to_ss_for_user.delay(ready_attempt.pk)
    assert len(reviewer.received) == 1
    ready_attempt.refresh_from_db()
    assert (ready_attempt.status, ready_attempt.error_msg) == ("must_retry", "ExpectedName missing")


def test_unreachable_service_is_retried(ready_attempt, settings, two_retries):
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    config["SOFTWARE_SECURE"]["API_URL"] = "http://127.0.0.1:9/submit"
    settings.VERIFY_STUDENT = config
    assert send_request_to_ss_for_user.delay(ready_attempt.pk).get() == "must_retry"
    ready_attempt.refresh_from_db()
    assert "Could not reach the review service" in ready_attempt.error_msg


def test_missing_or_decided_attempts_are_left_alone(reviewer):
    assert send_request_to_ss_for_user.delay(10**9).get() == "missing"
    approved = SoftwareSecurePhotoVerificationFactory(status="approved")
    assert send_request_to_ss_for_user.delay(approved.pk).get() == "approved"
    assert reviewer.received == []
