"""``set_software_secure_status``: a decision by hand, through the state machine."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import (
    SoftwareSecurePhotoVerificationFactory,
    StaffFactory,
    VerificationCheckpointFactory,
)
from verify_student.management.commands.set_software_secure_status import Command
from verify_student.models import SoftwareSecurePhotoVerification, VerificationStatus

pytestmark = pytest.mark.django_db


def run(*args, **options):
    out = io.StringIO()
    call_command("set_software_secure_status", *args, stdout=out, **options)
    return out.getvalue()


def reload(attempt):
    return SoftwareSecurePhotoVerification.objects.get(pk=attempt.pk)


@pytest.fixture
def submitted():
    return SoftwareSecurePhotoVerificationFactory(status="submitted")


@pytest.fixture
def checkpoint(submitted):
    checkpoint = VerificationCheckpointFactory()
    checkpoint.add_verification_attempt(submitted)
    return checkpoint


def checkpoint_statuses(attempt):
    return list(
        VerificationStatus.objects.filter(user=attempt.user).values_list("status", flat=True)
    )


@pytest.mark.parametrize("status", ["submitted", "must_retry", "denied"])
def test_approve(status):
    attempt = SoftwareSecurePhotoVerificationFactory(status=status, error_msg="old")
    output = run("approved", attempt.receipt_id)

    saved = reload(attempt)
    assert (saved.status, saved.error_msg, saved.reviewing_service) == ("approved", "", "staff")
    assert saved.reviewing_user is None
    assert f"Receipt {attempt.receipt_id}: {status} -> approved." in output


def test_deny_keeps_the_reason_and_updates_linked_checkpoints(submitted, checkpoint):
    output = run("denied", submitted.receipt_id, "  The photo ID is unreadable.  ")

    saved = reload(submitted)
    assert (saved.status, saved.error_msg, saved.error_code) == (
        "denied",
        "The photo ID is unreadable.",
        "staff",
    )
    assert checkpoint_statuses(submitted) == ["denied"]
    assert VerificationStatus.objects.get().checkpoint == checkpoint
    assert "submitted -> denied" in output


def test_approve_updates_linked_checkpoints(submitted, checkpoint):
    run("approved", submitted.receipt_id)
    assert checkpoint_statuses(submitted) == ["approved"]


def test_deny_overrides_an_approval():
    attempt = SoftwareSecurePhotoVerificationFactory(status="approved")
    run("denied", attempt.receipt_id, "Fraud")
    assert (reload(attempt).status, reload(attempt).error_msg) == ("denied", "Fraud")


def test_the_reviewer_is_recorded():
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    staff = StaffFactory()
    run("approved", attempt.receipt_id, "--reviewer", staff.username)
    assert reload(attempt).reviewing_user == staff


def test_repeating_a_decision_changes_nothing(submitted, checkpoint):
    run("approved", submitted.receipt_id)
    before = reload(submitted).updated_at

    output = run("approved", submitted.receipt_id)

    assert output == f"Receipt {submitted.receipt_id} was already approved; nothing changed.\n"
    assert reload(submitted).updated_at == before
    assert checkpoint_statuses(submitted) == ["approved"]  # no second status row


def test_a_denial_with_the_same_reason_is_not_repeated(submitted, checkpoint):
    run("denied", submitted.receipt_id, "Blurry")
    assert "already denied" in run("denied", submitted.receipt_id, "Blurry")
    assert checkpoint_statuses(submitted) == ["denied"]
    # A new reason amends the denial.
    assert "denied -> denied" in run("denied", submitted.receipt_id, "Face out of view")
    assert reload(submitted).error_msg == "Face out of view"


@pytest.mark.parametrize("status", ["created", "ready"])
@pytest.mark.parametrize("decision", [("approved",), ("denied", "No")])
def test_a_refused_transition_is_an_error_and_changes_nothing(status, decision):
    attempt = SoftwareSecurePhotoVerificationFactory(status=status)
    checkpoint = VerificationCheckpointFactory()
    checkpoint.add_verification_attempt(attempt)

    with pytest.raises(CommandError) as raised:
        run(decision[0], attempt.receipt_id, *decision[1:])

    message = str(raised.value)
    assert f"Cannot set receipt {attempt.receipt_id} to {decision[0]}" in message
    assert f"status is '{status}'" in message
    assert message.endswith("Nothing was changed.")
    saved = reload(attempt)
    assert (saved.status, saved.error_msg) == (status, "")
    assert checkpoint_statuses(attempt) == []


def test_dry_run_changes_nothing(submitted, checkpoint):
    output = run("denied", submitted.receipt_id, "Blurry", "--dry-run")

    assert output == (
        f"Dry run: receipt {submitted.receipt_id} would go from submitted to denied; "
        "nothing was changed.\n"
    )
    saved = reload(submitted)
    assert (saved.status, saved.error_msg) == ("submitted", "")
    assert checkpoint_statuses(submitted) == []


def test_dry_run_reports_a_refused_transition():
    attempt = SoftwareSecurePhotoVerificationFactory(status="created")
    with pytest.raises(CommandError, match="Cannot set receipt"):
        run("approved", attempt.receipt_id, "--dry-run")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verified", "r"], "argument status: invalid choice: 'verified'"),
        (["approved"], "the following arguments are required: receipt_id"),
        (["denied", "{receipt}"], "A reason is required to deny an attempt."),
        (["denied", "{receipt}", "   "], "A reason is required to deny an attempt."),
        (["approved", "{receipt}", "why"], "A reason is only taken with denied."),
        (
            ["approved", "no-such-receipt"],
            "No verification attempt has receipt id 'no-such-receipt'.",
        ),
        (
            ["approved", "{receipt}", "--reviewer", "nobody"],
            "No user named 'nobody' \\(--reviewer\\).",
        ),
        (["approved", "{receipt}", "a", "b"], "unrecognized arguments: b"),
    ],
)
def test_bad_arguments(submitted, args, message):
    args = [arg.format(receipt=submitted.receipt_id) for arg in args]
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert reload(submitted).status == "submitted"


def test_unknown_status_given_to_handle(submitted):
    # Called from code, argparse's choices are skipped: the command checks them too.
    with pytest.raises(CommandError, match="Unknown status 'verified': choose approved or denied"):
        Command().handle(
            status="verified", receipt_id=submitted.receipt_id, reason="", reviewer=None
        )
