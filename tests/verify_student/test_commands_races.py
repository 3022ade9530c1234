"""Commands meeting a concurrent decision, on PostgreSQL with real concurrent connections."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from tests.factories import SoftwareSecurePhotoVerificationFactory
from tests.verify_student.conftest import FakeReviewer, start_reviewer, waiting_on_a_lock
from tests.verify_student.test_commands_retry import make_attempt
from verify_student.models import SoftwareSecurePhotoVerification as Attempt

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class DecidingReviewer(FakeReviewer):
    """A review service during whose answer staff approve the attempt (another connection)."""

    def receive(self, headers, raw_body):
        received = super().receive(headers, raw_body)
        try:
            Attempt.objects.get(receipt_id=received.body["EdX-ID"]).approve(service="staff")
        finally:
            connection.close()  # this handler thread's own connection
        return received


@pytest.fixture
def deciding_reviewer(settings):
    server = start_reviewer(settings, reviewer_class=DecidingReviewer)
    yield server
    server.stop()


def test_retry_skips_an_attempt_decided_while_it_was_being_sent(s3_photos, deciding_reviewer):
    attempt = make_attempt()
    out = io.StringIO()

    call_command("retry_failed_photo_verifications", "--sleep-time", "0", stdout=out)

    assert len(deciding_reviewer.received) == 1
    assert Attempt.objects.get(pk=attempt.pk).status == "approved"  # the decision stands
    output = out.getvalue()
    assert f"receipt {attempt.receipt_id}, must_retry): skipped, Error calling" in output
    assert "Done: 0 resubmitted (0 submitted, 0 still failing), 1 skipped." in output


def test_approve_does_not_override_a_denial_made_meanwhile(tmp_path):
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    path = tmp_path / "receipts.txt"
    path.write_text(attempt.receipt_id)
    locked = threading.Event()
    errors = []

    def deny_while_the_command_waits():
        try:
            with transaction.atomic():
                row = Attempt.objects.select_for_update().get(pk=attempt.pk)
                locked.set()
                for _ in range(3000):  # until the command is blocked on this row
                    if waiting_on_a_lock():
                        break
                    threading.Event().wait(0.01)
                row.deny("Fraud", reviewing_service="staff")
        except Exception as exc:  # reported to the test
            errors.append(exc)
            locked.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=deny_while_the_command_waits)
    thread.start()
    assert locked.wait(30)
    out = io.StringIO()

    with pytest.raises(
        CommandError, match="0 approved, 0 already approved, 0 not found, 1 refused"
    ):
        call_command("approve_id_verifications", str(path), "--sleep-time", "0", stdout=out)

    thread.join(30)
    assert errors == []
    assert f"{attempt.receipt_id}: refused, the attempt was decided meanwhile" in out.getvalue()
    saved = Attempt.objects.get(pk=attempt.pk)
    assert (saved.status, saved.error_msg) == ("denied", "Fraud")
