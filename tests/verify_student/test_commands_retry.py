"""``retry_failed_photo_verifications`` against moto's S3 and a real reviewer on 127.0.0.1."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import SoftwareSecurePhotoVerificationFactory, UserFactory
from verify_student.management.commands.retry_failed_photo_verifications import Command
from verify_student.models import SoftwareSecurePhotoVerification

pytestmark = pytest.mark.django_db

FACE = b"\xff\xd8\xff\xe0 face " + bytes(range(256)) * 4
PHOTO_ID = b"\x89PNG\r\n\x1a\n id " + bytes(range(256)) * 4


def run(*args, command=None, **options):
    out = io.StringIO()
    call_command(command or "retry_failed_photo_verifications", *args, stdout=out, **options)
    return out.getvalue()


def make_attempt(status="must_retry", *, user=None, photo_id=True, copy_from=None, created=None):
    """An attempt with its encrypted photos on S3, brought to ``status`` by its transitions."""
    attempt = SoftwareSecurePhotoVerificationFactory(user=user or UserFactory())
    attempt.upload_face_image(FACE)
    if photo_id:
        attempt.upload_photo_id_image(PHOTO_ID)
    if copy_from is not None:
        attempt.copy_id_photo_from = copy_from
        attempt.save(update_fields=["copy_id_photo_from"])
    attempt.mark_ready()
    if status in ("must_retry", "approved"):
        attempt.mark_must_retry("Could not reach the review service (ConnectionError).")
    if status in ("submitted", "approved"):
        attempt.mark_submitted()
    if status == "approved":
        attempt.approve(service="SoftwareSecure")
    if created is not None:
        SoftwareSecurePhotoVerification.objects.filter(pk=attempt.pk).update(created_at=created)
    return attempt


def statuses(*attempts):
    return [SoftwareSecurePhotoVerification.objects.get(pk=a.pk).status for a in attempts]


@pytest.fixture
def attempts(s3_photos):
    """Two must_retry attempts, and one each ready, submitted and approved."""
    return {
        "failed": [make_attempt(), make_attempt()],
        "ready": make_attempt("ready"),
        "submitted": make_attempt("submitted"),
        "approved": make_attempt("approved"),
    }


def test_must_retry_attempts_are_resubmitted_by_default(attempts, reviewer):
    failed = attempts["failed"]
    output = run("--sleep-time", "0")

    assert statuses(*failed) == ["submitted", "submitted"]
    assert statuses(attempts["ready"], attempts["submitted"], attempts["approved"]) == [
        "ready",
        "submitted",
        "approved",
    ]
    assert sorted(r.body["EdX-ID"] for r in reviewer.received) == sorted(
        a.receipt_id for a in failed
    )
    for received in reviewer.received:  # the real submission: signed, photos readable
        assert received.signature_ok
        assert (received.face_image, received.photo_id_image) == (FACE, PHOTO_ID)
    assert "2 verification attempt(s) to resubmit." in output
    assert (
        f"attempt {failed[0].pk} (receipt {failed[0].receipt_id}, must_retry): submitted" in output
    )
    assert "batch 1/1: 2/2" in output
    assert output.rstrip().endswith(
        "Done: 2 resubmitted (2 submitted, 0 still failing), 0 skipped."
    )


def test_failures_are_counted_and_the_error_kept(attempts, reviewer):
    reviewer.answer(400, "ExpectedName missing")
    output = run("--sleep-time", "0")

    assert statuses(*attempts["failed"]) == ["must_retry", "must_retry"]
    for attempt in attempts["failed"]:
        attempt.refresh_from_db()
        assert attempt.error_msg == "ExpectedName missing"
    assert len(reviewer.received) == 2
    assert output.count(": still failing: ExpectedName missing") == 2
    assert "Done: 2 resubmitted (0 submitted, 2 still failing), 0 skipped." in output


def test_a_re_verification_resends_the_photo_id_of_the_initial_attempt(s3_photos, reviewer):
    user = UserFactory()
    initial = make_attempt("approved", user=user)
    retry = make_attempt(user=user, photo_id=False, copy_from=initial)

    output = run("--sleep-time", "0")

    assert statuses(retry) == ["submitted"]
    [received] = reviewer.received
    assert received.body["EdX-ID"] == retry.receipt_id
    assert f"photo_id/{initial.receipt_id}" in received.body["PhotoID"]
    assert (received.face_image, received.photo_id_image) == (FACE, PHOTO_ID)
    assert "1 resubmitted (1 submitted" in output


@pytest.mark.parametrize("status", ["ready", "submitted"])
def test_status_selects_other_resubmittable_attempts(attempts, reviewer, status):
    output = run("--status", status, "--sleep-time", "0")

    assert [r.body["EdX-ID"] for r in reviewer.received] == [attempts[status].receipt_id]
    assert statuses(attempts[status]) == ["submitted"]
    assert statuses(*attempts["failed"]) == ["must_retry", "must_retry"]
    assert "Done: 1 resubmitted (1 submitted, 0 still failing), 0 skipped." in output


def test_verification_ids_take_ids_and_receipt_ids_and_skip_decided_attempts(attempts, reviewer):
    first, second = attempts["failed"]
    approved = attempts["approved"]
    output = run(
        "--verification-ids",
        str(first.pk),
        f"{second.receipt_id},{approved.receipt_id}",
        str(first.pk),  # repeated: sent once
        "--sleep-time",
        "0",
    )

    assert sorted(r.body["EdX-ID"] for r in reviewer.received) == sorted(
        [first.receipt_id, second.receipt_id]
    )
    assert statuses(first, second, approved) == ["submitted", "submitted", "approved"]
    assert f"receipt {approved.receipt_id}, approved): skipped" in output
    assert "Done: 2 resubmitted (2 submitted, 0 still failing), 1 skipped." in output


def test_verification_ids_with_a_status(attempts, reviewer):
    ready = attempts["ready"]
    ids = [str(a.pk) for a in [*attempts["failed"], ready]]
    run("--verification-ids", *ids, "--status", "ready", "--sleep-time", "0")
    assert [r.body["EdX-ID"] for r in reviewer.received] == [ready.receipt_id]


def test_unknown_verification_ids_are_refused_before_anything_is_sent(attempts, reviewer):
    with pytest.raises(CommandError, match="id or receipt id: 999999, no-such-receipt"):
        run("--verification-ids", str(attempts["failed"][0].pk), "999999", "no-such-receipt")
    assert reviewer.received == []
    assert statuses(*attempts["failed"]) == ["must_retry", "must_retry"]


def test_the_date_range_applies_to_creation_time(s3_photos, reviewer):
    old = make_attempt(created=datetime(2024, 1, 10, tzinfo=UTC))
    inside = make_attempt(created=datetime(2024, 2, 10, 12, tzinfo=UTC))
    new = make_attempt(created=datetime(2024, 3, 10, tzinfo=UTC))

    run(
        "--start-datetime",
        "2024-02-01",
        "--end-datetime",
        "2024-02-29T23:59:59",
        "--sleep-time",
        "0",
    )
    assert statuses(old, inside, new) == ["must_retry", "submitted", "must_retry"]

    run("--start_datetime", "2024-03-01 00:00:00+00:00", "--sleep-time", "0")
    assert statuses(old, new) == ["must_retry", "submitted"]

    run("--end-datetime", "2024-01-31", "--sleep-time", "0")
    assert statuses(old) == ["submitted"]
    assert len(reviewer.received) == 3


def test_dry_run_lists_and_changes_nothing(attempts, reviewer):
    failed = attempts["failed"]
    output = run("--dry-run", "--sleep-time", "0")

    assert reviewer.received == []
    assert statuses(*failed) == ["must_retry", "must_retry"]
    assert "2 verification attempt(s) to check." in output
    assert (
        f"attempt {failed[1].pk} (receipt {failed[1].receipt_id}, must_retry): would be resubmitted"
        in output
    )
    assert "Dry run: 2 would be resubmitted, 0 skipped; nothing was changed." in output


def test_batches_report_progress_and_pause_between_batches(s3_photos, reviewer):
    failed = [make_attempt() for _ in range(3)]
    command = Command()
    pauses = []
    command.sleep = pauses.append

    output = run("--batch-size", "2", "--sleep-time", "7", command=command)

    assert statuses(*failed) == ["submitted"] * 3
    lines = output.splitlines()
    assert lines.index("batch 1/2: 2/3") < lines.index("batch 2/2: 3/3")
    assert lines.index("batch 1/2: 2/3") == 3  # after the heading and two attempts
    assert pauses == [7.0]


def test_nothing_to_resubmit(db, reviewer):
    output = run("--sleep-time", "0")
    assert output.splitlines() == [
        "0 verification attempt(s) to resubmit.",
        "Done: 0 resubmitted (0 submitted, 0 still failing), 0 skipped.",
    ]


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (["--status", "approved"], {}, "invalid choice: 'approved'"),
        ([], {"status": "denied"}, "Unknown --status 'denied': choose one of"),
        (["--start-datetime", "last week"], {}, "--start-datetime: 'last week' is not an ISO"),
        (["--end-datetime", "2024-02-30"], {}, "--end-datetime: '2024-02-30' is not an ISO"),
        (
            ["--start-datetime", "2024-03-01", "--end-datetime", "2024-02-01"],
            {},
            "--start-datetime is after --end-datetime",
        ),
        (["--batch-size", "0"], {}, "--batch-size must be a whole number of at least 1"),
        (["--sleep-time", "-2"], {}, "--sleep-time must be a number of seconds >= 0"),
    ],
)
def test_bad_arguments(attempts, reviewer, args, options, message):
    with pytest.raises(CommandError, match=message):
        run(*args, **options)
    assert reviewer.received == []
    assert statuses(*attempts["failed"]) == ["must_retry", "must_retry"]
