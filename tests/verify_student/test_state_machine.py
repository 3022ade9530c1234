"""Every status x every transition of the attempt state machine, as the original."""

import pytest
from django.test import override_settings

from tests.factories import SoftwareSecurePhotoVerificationFactory, StaffFactory
from verify_student.models import SoftwareSecurePhotoVerification, VerificationException

pytestmark = pytest.mark.django_db

ALL_STATUSES = ["created", "ready", "submitted", "must_retry", "approved", "denied"]
REFUSED = None

# transition -> {start status: resulting status, or REFUSED}
EXPECTED = {
    "mark_ready": {"created": "ready"},
    "submit": {"ready": "submitted", "submitted": "submitted", "must_retry": "submitted"},
    "approve": {
        "submitted": "approved",
        "must_retry": "approved",
        "approved": "approved",
        "denied": "approved",
    },
    "deny": {
        "submitted": "denied",
        "must_retry": "denied",
        "approved": "denied",
        "denied": "denied",
    },
    "system_error": {
        "submitted": "must_retry",
        "must_retry": "must_retry",
        "approved": "approved",
        "denied": "denied",
    },
}

CASES = [
    (transition, start, EXPECTED[transition].get(start, REFUSED))
    for transition in EXPECTED
    for start in ALL_STATUSES
]


def run(attempt, transition, reviewer):
    if transition == "approve":
        attempt.approve(user_id=reviewer, service="staff")
    elif transition == "deny":
        attempt.deny("Blurry photo", error_code="blurry", reviewing_user=reviewer)
    elif transition == "system_error":
        attempt.system_error("Could not decrypt", error_code="decrypt", reviewing_service="ss")
    else:
        getattr(attempt, transition)()


def row(attempt):
    return SoftwareSecurePhotoVerification.objects.filter(pk=attempt.pk).values().get()


@override_settings(
    FEATURES={"AUTOMATIC_VERIFY_STUDENT_IDENTITY_FOR_TESTING": True}  # submit sends nothing
)
@pytest.mark.parametrize(("transition", "start", "expected"), CASES)
def test_every_transition_from_every_status(transition, start, expected):
    attempt = SoftwareSecurePhotoVerificationFactory(status=start, error_msg="old")
    reviewer = StaffFactory()
    before = row(attempt)

    if expected is REFUSED:
        with pytest.raises(VerificationException, match=start):
            run(attempt, transition, reviewer)
        assert row(attempt) == before
        return

    run(attempt, transition, reviewer)
    after = row(attempt)
    assert after["status"] == expected
    assert attempt.status == expected
    noop = (transition, start) in {
        ("approve", "approved"),
        ("system_error", "approved"),
        ("system_error", "denied"),
    }
    if noop:
        assert after == before
    if transition == "approve" and not noop:
        assert after["reviewing_user_id"] == reviewer.pk
        assert after["error_msg"] == ""
    if transition == "deny":
        assert (after["error_msg"], after["error_code"]) == ("Blurry photo", "blurry")
        assert after["reviewing_user_id"] == reviewer.pk
    if transition == "system_error" and not noop:
        assert (after["error_msg"], after["error_code"]) == ("Could not decrypt", "decrypt")
    if transition == "submit":
        assert after["submitted_at"] is not None
    if transition == "mark_ready":
        assert after["name"] == attempt.user.get_full_name()


def test_status_is_read_from_the_database_not_a_stale_copy():
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    stale = SoftwareSecurePhotoVerification.objects.get(pk=attempt.pk)
    attempt.deny("Name mismatch")

    # The stale copy still says "submitted"; the transition sees "denied".
    stale.system_error("late system error")
    assert row(attempt)["status"] == "denied"
    assert row(attempt)["error_msg"] == "Name mismatch"


def test_refused_transition_keeps_in_memory_edits_out_of_the_database():
    attempt = SoftwareSecurePhotoVerificationFactory(status="created")
    attempt.error_msg = "not saved"
    with pytest.raises(VerificationException):
        attempt.approve()
    assert row(attempt)["error_msg"] == ""


def test_first_approval_wins():
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    first, second = StaffFactory(), StaffFactory()
    attempt.approve(user_id=first)
    SoftwareSecurePhotoVerification.objects.get(pk=attempt.pk).approve(user_id=second)
    assert row(attempt)["reviewing_user_id"] == first.pk


def test_denied_then_approved_resets_the_error():
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    attempt.deny("Blurry", error_code="blurry")
    attempt.approve(service="support override")
    after = row(attempt)
    assert (after["status"], after["error_msg"], after["error_code"]) == ("approved", "", "")
    assert after["reviewing_service"] == "support override"


def test_status_changed_and_history_follow_transitions():
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    changed = row(attempt)["status_changed"]
    attempt.approve()
    assert row(attempt)["status_changed"] >= changed
    statuses = list(attempt.history.order_by("history_id").values_list("status", flat=True))
    assert statuses == ["submitted", "approved"]
    # The sealed photo-ID key is never copied into the history table.
    assert "photo_id_key" not in {f.name for f in attempt.history.model._meta.fields}


def test_status_query_managers_from_status_model():
    SoftwareSecurePhotoVerificationFactory(status="submitted")
    SoftwareSecurePhotoVerificationFactory(status="approved")
    assert SoftwareSecurePhotoVerification.submitted.count() == 1
    assert SoftwareSecurePhotoVerification.approved.count() == 1


def test_submit_reads_the_stored_status_before_sending(reviewer):
    attempt = SoftwareSecurePhotoVerificationFactory(status="ready")
    stale = SoftwareSecurePhotoVerification.objects.get(pk=attempt.pk)
    attempt.status = "submitted"
    attempt.save()
    attempt.approve()
    with pytest.raises(VerificationException, match="approved"):
        stale.submit()
    assert reviewer.received == []
    assert row(attempt)["status"] == "approved"
