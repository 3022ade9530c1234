"""Failing neighbours: S3 down, the reviewer failing, the outcome service down, the database.

Proven elsewhere: an S3 outage on a single upload (tests/verify_student/
test_photo_submission.py), bounded outcome retries (tests/lti_provider/
test_tasks.py), the retry command's selection and reporting
(tests/verify_student/test_commands_retry.py).
"""

from __future__ import annotations

import io
import logging
import socket
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
from botocore.config import Config
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from lti_provider import outcomes, tasks
from tests.factories import SoftwareSecurePhotoVerificationFactory, UserFactory
from tests.local_server import serve_on_loopback
from tests.lti_provider.outcome_server import OutcomeServer, _handler
from tests.security.s3_gate import S3Gate
from tests.verify_student.conftest import point_storage_at
from verify_student import api, storage
from verify_student.exceptions import PhotoStorageError
from verify_student.models import SoftwareSecurePhotoVerification as Attempt

pytestmark = pytest.mark.django_db

FACE = b"\xff\xd8\xff\xe0 face " + bytes(range(256)) * 4
PHOTO_ID = b"\x89PNG\r\n\x1a\n id " + bytes(range(256)) * 4


# -- S3 stopped during a submission ---------------------------------------------------------


@pytest.fixture
def gate(s3_photos, settings):
    """S3 reached through a gate the test can close; one connection attempt per call."""
    server = S3Gate(urlsplit(s3_photos.endpoint_url).port)
    server.open()
    point_storage_at(
        settings,
        endpoint_url=server.endpoint_url,
        client_config=Config(retries={"total_max_attempts": 1}),
    )
    yield server
    server.close()


def close_gate_at_the_photo_id(monkeypatch, gate, reopen_after_failure: bool) -> None:
    """The face is stored; S3 stops before the photo ID is written."""
    real_save = storage.save_photo

    def save(path: str, data: bytes) -> None:
        if path.startswith("photo_id/"):
            gate.close()
            try:
                real_save(path, data)
            finally:
                if reopen_after_failure:
                    gate.open()
            return
        real_save(path, data)

    monkeypatch.setattr(storage, "save_photo", save)


def test_s3_down_before_a_submission_is_a_clear_error_and_a_retry_succeeds(client, gate, s3_photos):
    learner = UserFactory()
    client.force_login(learner)
    gate.close()
    photos = {"face_image": io.BytesIO(FACE), "photo_id_image": io.BytesIO(PHOTO_ID)}
    response = client.post("/verify_student/submit-photos/", photos)
    assert response.status_code == 503
    assert "could not be stored" in response.json()["error"]
    assert not Attempt.objects.exists()
    assert s3_photos.object_keys() == []

    gate.open()
    photos = {"face_image": io.BytesIO(FACE), "photo_id_image": io.BytesIO(PHOTO_ID)}
    response = client.post("/verify_student/submit-photos/", photos)
    assert response.status_code == 200
    attempt = Attempt.objects.get()
    assert attempt.status == "ready"
    assert s3_photos.object_keys() == [
        f"face/{attempt.receipt_id}",
        f"photo_id/{attempt.receipt_id}",
    ]


def test_s3_stopping_between_the_face_and_the_photo_id_leaves_nothing(monkeypatch, gate, s3_photos):
    learner = UserFactory()
    close_gate_at_the_photo_id(monkeypatch, gate, reopen_after_failure=True)
    with pytest.raises(PhotoStorageError, match="Could not store photo photo_id/"):
        api.submit_verification(learner, FACE, PHOTO_ID)
    assert not Attempt.objects.exists()  # never marked ready, let alone submitted
    assert s3_photos.object_keys() == []  # the stored face was removed again

    monkeypatch.undo()
    attempt = api.submit_verification(learner, FACE, PHOTO_ID)
    assert Attempt.objects.get().status == "ready"
    assert len(s3_photos.object_keys()) == 2
    assert attempt.receipt_id in s3_photos.object_keys()[0]


def test_s3_staying_down_through_the_cleanup_names_the_orphan_for_the_operator(
    monkeypatch, gate, s3_photos, caplog
):
    """The one case the app cannot clean up itself: S3 is gone for the delete too."""
    learner = UserFactory()
    close_gate_at_the_photo_id(monkeypatch, gate, reopen_after_failure=False)
    caplog.set_level(logging.ERROR, logger="verify_student.api")
    with pytest.raises(PhotoStorageError):
        api.submit_verification(learner, FACE, PHOTO_ID)
    assert not Attempt.objects.exists()
    [record] = [r for r in caplog.records if "after a failed submission" in r.getMessage()]
    orphan = record.getMessage().split()[3]
    assert orphan.startswith("face/")
    gate.open()
    assert s3_photos.object_keys() == [orphan]  # encrypted, unreferenced, and named in the log


# -- the reviewer failing, then the retry command ---------------------------------------------


def ready_attempt() -> Attempt:
    attempt = SoftwareSecurePhotoVerificationFactory(user=UserFactory())
    attempt.upload_face_image(FACE)
    attempt.upload_photo_id_image(PHOTO_ID)
    attempt.mark_ready()
    return attempt


@pytest.mark.parametrize("failure", ["500", "timeout", "closed connection"])
def test_a_failing_reviewer_means_must_retry_then_the_command_recovers_it(
    s3_photos, reviewer, settings, failure
):
    settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "REQUEST_TIMEOUT": 0.5}
    attempt = ready_attempt()
    if failure == "500":
        reviewer.answer(500, "internal error")
    elif failure == "timeout":
        reviewer.hang()
    else:
        reviewer.close_connection()

    attempt.submit()
    failed = Attempt.objects.get(pk=attempt.pk)
    assert failed.status == "must_retry"
    assert failed.error_msg

    reviewer.release.set()
    reviewer.answer(200, "OK")
    out = io.StringIO()
    call_command("retry_failed_photo_verifications", stdout=out)
    recovered = Attempt.objects.get(pk=attempt.pk)
    assert recovered.status == "submitted"
    assert reviewer.received[-1].signature_ok
    assert reviewer.received[-1].photo_id_image == PHOTO_ID


# -- the outcome service down, then back ------------------------------------------------------


def test_the_outcome_service_down_is_retried_and_the_score_sent_once_it_is_back(
    eager_retries, settings, monkeypatch
):
    from tests.factories import GradedAssignmentFactory

    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "OUTCOME_MAX_RETRIES": 5}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there: connection refused
    state = OutcomeServer(port=port)
    assignment = GradedAssignmentFactory(
        outcome_service__lis_outcome_service_url=state.url, lis_result_sourcedid="src-down"
    )
    consumer = assignment.outcome_service.lti_consumer
    state.secrets[consumer.consumer_key] = consumer.consumer_secret

    attempts: list[str] = []
    real_send = outcomes.send_score_update

    with ExitStack() as servers:

        def send(*args, **kwargs):
            attempts.append("try")
            if len(attempts) == 3:  # the service comes back before the third attempt
                servers.enter_context(
                    serve_on_loopback(_handler(state), quiet_errors=True, port=port)
                )
            return real_send(*args, **kwargs)

        monkeypatch.setattr(outcomes, "send_score_update", send)
        assert tasks.send_leaf_outcome.delay(assignment.pk, 3, 4, None).get() is True
    assert len(attempts) == 3
    [received] = state.received
    assert (received.sourcedid, received.score, received.signature_ok) == ("src-down", "0.75", True)


# -- a database error in the middle of a transition -------------------------------------------

TABLE = Attempt._meta.db_table


@pytest.fixture
def failing_approvals():
    """A trigger that makes the database refuse any UPDATE setting status='approved'."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION refuse_approval() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'approvals are refused'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse_approval BEFORE UPDATE ON {TABLE} FOR EACH ROW "
                "WHEN (NEW.status = 'approved') EXECUTE FUNCTION refuse_approval()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_approval BEFORE UPDATE ON {TABLE} "
                "WHEN NEW.status = 'approved' "
                "BEGIN SELECT RAISE(ABORT, 'approvals are refused'); END"
            )
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TRIGGER refuse_approval ON {TABLE}")
            cursor.execute("DROP FUNCTION refuse_approval()")
        else:
            cursor.execute("DROP TRIGGER refuse_approval")


def test_a_database_error_mid_transition_rolls_back(failing_approvals):
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    before = Attempt.objects.filter(pk=attempt.pk).values().get()
    history = attempt.history.count()
    with pytest.raises(DatabaseError, match="approvals are refused"), transaction.atomic():
        attempt.approve(service="SoftwareSecure")
    assert Attempt.objects.filter(pk=attempt.pk).values().get() == before
    assert attempt.history.count() == history
    # The row is unlocked and usable: another decision goes through.
    Attempt.objects.get(pk=attempt.pk).deny("blurry", error_code="x")
    assert Attempt.objects.get(pk=attempt.pk).status == "denied"


def test_a_database_error_in_a_callback_changes_nothing(failing_approvals, client):
    from tests.security.helpers import post_signed_callback

    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    before = Attempt.objects.filter(pk=attempt.pk).values().get()
    body = {"EdX-ID": attempt.receipt_id, "Result": "PASS", "Reason": "", "MessageType": ""}
    client.raise_request_exception = False
    response = post_signed_callback(client, body)
    assert response.status_code == 500  # the reviewer will call again
    assert Attempt.objects.filter(pk=attempt.pk).values().get() == before
