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


# -- where the submission runs: the host's Celery, in-process, or not yet ------------------
SUBMIT = "/verify_student/submit-photos/"


@pytest.fixture
def use_celery(settings):
    def apply(value):
        config = copy.deepcopy(settings.VERIFY_STUDENT)
        config["USE_CELERY"] = value
        settings.VERIFY_STUDENT = config

    return apply


def submit_as_learner(user, capture):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    client = Client()
    client.force_login(user)
    files = {
        "face_image": SimpleUploadedFile("face.png", PNG, "image/png"),
        "photo_id_image": SimpleUploadedFile("id.png", PNG, "image/png"),
    }
    with capture(execute=True):
        return client.post(SUBMIT, files)


def only_attempt(user):
    from verify_student.models import SoftwareSecurePhotoVerification

    return SoftwareSecurePhotoVerification.objects.get(user=user)


def test_the_tests_host_has_a_celery_app():
    from verify_student.tasks import host_has_celery_app, uses_celery

    assert host_has_celery_app() and uses_celery()


def test_without_a_celery_app_tasks_run_in_process(monkeypatch):
    """Celery's own fallback app (what a host without Celery gets) is not a host's app."""
    import threading

    import celery._state

    from verify_student.tasks import host_has_celery_app, uses_celery

    monkeypatch.setattr(celery._state, "default_app", None)
    answers = []
    # A new thread: no current app of this thread's, so Celery makes its fallback.
    thread = threading.Thread(target=lambda: answers.append((host_has_celery_app(), uses_celery())))
    thread.start()
    thread.join()
    assert answers == [(False, False)]


def test_use_celery_false_submits_in_process_after_commit(
    user, s3_photos, reviewer, use_celery, celery_broker_down, django_capture_on_commit_callbacks
):
    use_celery(False)  # the broker is down too: only an in-process run reaches the reviewer
    response = submit_as_learner(user, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert only_attempt(user).status == "submitted"
    assert len(reviewer.received) == 1 and reviewer.received[0].signature_ok


def test_in_process_an_unreachable_reviewer_leaves_must_retry_once(
    user, s3_photos, settings, closed_port, use_celery, django_capture_on_commit_callbacks
):
    use_celery(False)
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    config["SOFTWARE_SECURE"]["API_URL"] = f"http://127.0.0.1:{closed_port}/submit"
    settings.VERIFY_STUDENT = config
    response = submit_as_learner(user, django_capture_on_commit_callbacks)
    assert response.status_code == 200
    attempt = only_attempt(user)
    assert attempt.status == "must_retry"  # tried once, in the request; the command retries
    assert attempt.error_msg


def test_use_celery_must_be_a_bool_or_none(use_celery):
    from django.core.exceptions import ImproperlyConfigured

    from verify_student.conf import app_settings

    use_celery("yes")
    with pytest.raises(ImproperlyConfigured, match="USE_CELERY"):
        app_settings.USE_CELERY


def test_a_broker_that_refuses_leaves_the_attempt_ready_for_the_retry_command(
    user, s3_photos, reviewer, celery_broker_down, django_capture_on_commit_callbacks
):
    from io import StringIO

    from django.core.management import call_command

    response = submit_as_learner(user, django_capture_on_commit_callbacks)
    assert response.status_code == 200  # the learner's request succeeds
    assert response.json()["status"] == "ready"
    assert only_attempt(user).status == "ready"
    assert reviewer.received == []

    out = StringIO()
    call_command("retry_failed_photo_verifications", "--status", "ready", stdout=out)
    assert only_attempt(user).status == "submitted"
    assert len(reviewer.received) == 1
    assert "1 submitted" in out.getvalue()
