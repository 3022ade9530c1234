"""IDVerificationService: the status API a host LMS calls, and its query counts."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.factories import SoftwareSecurePhotoVerificationFactory, UserFactory
from verify_student.models import SoftwareSecurePhotoVerification
from verify_student.services import IDVerificationService

pytestmark = pytest.mark.django_db


def age(attempt, days):
    when = timezone.now() - timedelta(days=days)
    SoftwareSecurePhotoVerification.objects.filter(pk=attempt.pk).update(
        created_at=when, updated_at=when
    )


def test_user_status_none(user):
    assert IDVerificationService.user_status(user) == {
        "status": "none",
        "error": "",
        "should_display": True,
        "status_date": None,
        "verification_expiry": None,
    }


def test_user_status_approved_with_expiry(user):
    attempt = SoftwareSecurePhotoVerificationFactory(user=user, status="approved")
    status = IDVerificationService.user_status(user)
    attempt.refresh_from_db()
    assert status["status"] == "approved"
    assert status["status_date"] == attempt.updated_at
    assert status["verification_expiry"] == attempt.created_at + timedelta(days=365)


def test_user_status_must_reverify(user):
    SoftwareSecurePhotoVerificationFactory(
        user=user, status="denied", error_msg='[{"generalReasons": ["Name mismatch"]}]'
    )
    status = IDVerificationService.user_status(user)
    assert status["status"] == "must_reverify"
    assert "do not match" in status["error"]
    assert status["verification_expiry"] is None


@pytest.mark.parametrize("attempts", [1, 100])
def test_user_status_and_is_verified_at_most_two_queries(
    user, attempts, django_assert_max_num_queries
):
    for index in range(attempts):
        age(SoftwareSecurePhotoVerificationFactory(user=user, status="approved"), index)
    with django_assert_max_num_queries(2):
        assert IDVerificationService.user_status(user)["status"] == "approved"
    with django_assert_max_num_queries(1):
        assert IDVerificationService.user_is_verified(user)


def test_get_verified_user_ids_one_query_for_1000_users(django_assert_num_queries):
    User = get_user_model()
    User.objects.bulk_create(User(username=f"bulk{n}", email=f"b{n}@x.org") for n in range(1000))
    users = list(User.objects.filter(username__startswith="bulk"))
    verified = users[::7]
    SoftwareSecurePhotoVerification.objects.bulk_create(
        SoftwareSecurePhotoVerification(user=u, status="approved") for u in verified
    )
    # Noise that must not count: denied, pending, and expired approvals.
    SoftwareSecurePhotoVerification.objects.bulk_create(
        SoftwareSecurePhotoVerification(user=u, status=s)
        for u, s in zip(users[1::7], ["denied", "submitted"] * 500, strict=False)
    )
    expired = SoftwareSecurePhotoVerificationFactory(user=users[2], status="approved")
    age(expired, 400)

    with django_assert_num_queries(1):
        ids = IDVerificationService.get_verified_user_ids(users)
    assert ids == {u.pk for u in verified}
    with django_assert_num_queries(1):
        assert IDVerificationService.get_verified_user_ids(
            User.objects.filter(username__startswith="bulk")
        ) == {u.pk for u in verified}
    assert IDVerificationService.get_verified_user_ids([u.pk for u in users[:7]]) == {users[0].pk}
    assert IDVerificationService.get_verified_user_ids([]) == set()


def test_verification_status_for_user(user):
    assert IDVerificationService.verification_status_for_user(user, "audit") == "N/A"
    assert IDVerificationService.verification_status_for_user(user, "verified") == "Not ID Verified"
    SoftwareSecurePhotoVerificationFactory(user=user, status="approved")
    assert IDVerificationService.verification_status_for_user(user, "verified") == "ID Verified"


def test_verifications_for_user_and_pending(user):
    old = SoftwareSecurePhotoVerificationFactory(user=user, status="denied")
    age(old, 3)
    new = SoftwareSecurePhotoVerificationFactory(user=user, status="submitted")
    SoftwareSecurePhotoVerificationFactory(user=UserFactory(), status="approved")
    assert IDVerificationService.verifications_for_user(user) == [new, old]
    assert IDVerificationService.user_has_valid_or_pending(user)
    assert IDVerificationService.get_expiration_datetime(user) is None
