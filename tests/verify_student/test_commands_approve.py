"""``approve_id_verifications``: approve attempts listed by receipt id in a file."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.factories import SoftwareSecurePhotoVerificationFactory
from verify_student.management.commands.approve_id_verifications import Command
from verify_student.models import SoftwareSecurePhotoVerification

pytestmark = pytest.mark.django_db


def run(*args, command=None, **options):
    out = io.StringIO()
    call_command(command or "approve_id_verifications", *args, stdout=out, **options)
    return out.getvalue()


def write_ids(tmp_path, *lines):
    path = tmp_path / "receipts.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def status_of(attempt):
    return SoftwareSecurePhotoVerification.objects.get(pk=attempt.pk).status


@pytest.fixture
def waiting():
    """A submitted and a must_retry attempt."""
    return [
        SoftwareSecurePhotoVerificationFactory(status="submitted"),
        SoftwareSecurePhotoVerificationFactory(status="must_retry", error_msg="HTTP 503"),
    ]


def test_submitted_and_must_retry_attempts_are_approved(tmp_path, waiting):
    path = write_ids(tmp_path, *[a.receipt_id for a in waiting])

    output = run(path, "--sleep-time", "0")

    for attempt in waiting:
        saved = SoftwareSecurePhotoVerification.objects.get(pk=attempt.pk)
        assert (saved.status, saved.error_msg) == ("approved", "")
        assert saved.reviewing_service == "approve_id_verifications command"
    assert "2 receipt id(s) to approve." in output
    assert f"{waiting[0].receipt_id}: approved" in output
    assert "batch 1/1: 2/2" in output
    assert output.rstrip().endswith("Done: 2 approved, 0 already approved, 0 not found, 0 refused.")


def test_others_are_reported_and_the_exit_status_is_an_error(tmp_path, waiting):
    approved = SoftwareSecurePhotoVerificationFactory(status="approved")
    denied = SoftwareSecurePhotoVerificationFactory(status="denied", error_msg="Blurry")
    created = SoftwareSecurePhotoVerificationFactory(status="created")
    expired = SoftwareSecurePhotoVerificationFactory(status="submitted")
    SoftwareSecurePhotoVerification.objects.filter(pk=expired.pk).update(
        created_at=timezone.now() - timedelta(days=366)
    )
    path = write_ids(
        tmp_path,
        "# from the support queue",
        approved.receipt_id,
        denied.receipt_id,
        "",
        created.receipt_id,
        expired.receipt_id,
        "no-such-receipt",
        *[a.receipt_id for a in waiting],
        waiting[0].receipt_id,  # repeated: handled once
    )
    out = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("approve_id_verifications", path, "--sleep-time", "0", stdout=out)

    assert str(raised.value) == "Done: 2 approved, 1 already approved, 1 not found, 3 refused."
    output = out.getvalue()
    assert f"{approved.receipt_id}: already approved" in output
    assert f"{denied.receipt_id}: refused, the attempt is denied" in output
    assert f"{created.receipt_id}: refused, the attempt is created" in output
    assert f"{expired.receipt_id}: refused, the attempt expired on " in output
    assert "no-such-receipt: not found" in output
    assert [status_of(a) for a in (denied, created, expired)] == ["denied", "created", "submitted"]
    assert [status_of(a) for a in waiting] == ["approved", "approved"]


def test_dry_run_changes_nothing(tmp_path, waiting):
    denied = SoftwareSecurePhotoVerificationFactory(status="denied")
    path = write_ids(tmp_path, *[a.receipt_id for a in waiting])

    output = run(path, "--dry-run", "--sleep-time", "0")

    assert [status_of(a) for a in waiting] == ["submitted", "must_retry"]
    assert f"{waiting[1].receipt_id}: would be approved" in output
    assert "2 receipt id(s) to check." in output
    assert output.rstrip().endswith(
        "Dry run: 2 would be approved, 0 already approved, 0 not found, 0 refused. "
        "Nothing was changed."
    )
    with pytest.raises(CommandError, match=r"Dry run: 0 would be approved, .* 1 refused"):
        run(write_ids(tmp_path, denied.receipt_id), "--dry-run")
    assert status_of(denied) == "denied"


def test_batches_report_progress_and_pause(tmp_path):
    attempts = SoftwareSecurePhotoVerificationFactory.create_batch(5, status="submitted")
    command = Command()
    pauses = []
    command.sleep = pauses.append

    output = run(
        write_ids(tmp_path, *[a.receipt_id for a in attempts]),
        "--batch-size",
        "2",
        "--sleep-time",
        "4",
        command=command,
    )

    assert [status_of(a) for a in attempts] == ["approved"] * 5
    progress = [line for line in output.splitlines() if line.startswith("batch")]
    assert progress == ["batch 1/3: 2/5", "batch 2/3: 4/5", "batch 3/3: 5/5"]
    assert pauses == [4.0, 4.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: receipt_ids_file"),
        (["{tmp}/missing.txt"], "The receipt id file '.*missing.txt' does not exist"),
        (["{tmp}/empty.txt"], "'.*empty.txt' holds no receipt id."),
        (["{tmp}/ids.txt", "--batch-size", "0"], "--batch-size must be a whole number"),
        (["{tmp}/ids.txt", "--batch-size", "ten"], "invalid int value: 'ten'"),
        (["{tmp}/ids.txt", "--sleep-time", "-5"], "--sleep-time must be a number"),
    ],
)
def test_bad_arguments(tmp_path, waiting, args, message):
    (tmp_path / "empty.txt").write_text("# nothing here\n\n")
    (tmp_path / "ids.txt").write_text(waiting[0].receipt_id)
    with pytest.raises(CommandError, match=message):
        run(*[arg.format(tmp=tmp_path) for arg in args])
    assert [status_of(a) for a in waiting] == ["submitted", "must_retry"]
