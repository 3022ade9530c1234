"""Query methods of the attempt models, as the original behaved."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from freezegun import freeze_time

from tests.factories import SoftwareSecurePhotoVerificationFactory as AttemptFactory
from tests.factories import UserFactory
from verify_student.models import SoftwareSecurePhotoVerification as Attempt

pytestmark = pytest.mark.django_db


def make(user, status, days_ago=0, **fields):
    """An attempt created ``days_ago`` days ago (auto_now_add is bypassed by update)."""
    attempt = AttemptFactory(user=user, status=status, **fields)
    when = timezone.now() - timedelta(days=days_ago)
    Attempt.objects.filter(pk=attempt.pk).update(created_at=when, updated_at=when)
    attempt.refresh_from_db()
    return attempt


class TestUserStatus:
    def test_none_without_attempts(self, user):
        assert Attempt.user_status(user) == ("none", "")

    @pytest.mark.parametrize("status", ["submitted", "must_retry"])
    def test_pending(self, user, status):
        make(user, status)
        assert Attempt.user_status(user) == ("pending", "")

    def test_approved_wins_over_a_later_denial(self, user):
        make(user, "approved", days_ago=10)
        make(user, "denied", days_ago=1)
        assert Attempt.user_status(user) == ("approved", "")

    def test_expired(self, user):
        make(user, "approved", days_ago=366)
        status, message = Attempt.user_status(user)
        assert status == "expired"
        assert "Test LMS verification has expired" in message

    def test_denied_must_reverify_with_readable_reason(self, user):
        make(user, "denied", error_msg='[{"photoIdReasons": ["Not provided"]}]')
        assert Attempt.user_status(user) == ("must_reverify", "No photo ID was provided.")

    def test_denied_with_unparseable_reason(self, user):
        make(user, "denied", error_msg="raw reviewer text")
        assert Attempt.user_status(user) == (
            "must_reverify",
            "There was an error verifying your ID photos.",
        )

    def test_created_or_ready_only_is_none(self, user):
        make(user, "ready")
        assert Attempt.user_status(user) == ("none", "")

    @pytest.mark.parametrize("attempts", [1, 60])
    def test_one_query_whatever_the_number_of_attempts(
        self, user, attempts, django_assert_num_queries
    ):
        for index in range(attempts):
            make(user, "denied", days_ago=index)
        with django_assert_num_queries(1):
            assert Attempt.user_status(user)[0] == "must_reverify"
        with django_assert_num_queries(1):
            Attempt.user_is_verified(user)

    def test_days_good_for_setting(self, user):
        make(user, "approved", days_ago=20)
        with override_settings(VERIFY_STUDENT={"DAYS_GOOD_FOR": 10}):
            assert Attempt.user_status(user)[0] == "expired"
            assert not Attempt.user_is_verified(user)
        assert Attempt.user_is_verified(user)


class TestQueries:
    def test_verification_valid_or_pending_newest_first(self, user):
        old = make(user, "submitted", days_ago=5)
        new = make(user, "approved", days_ago=1)
        make(user, "denied")
        make(user, "submitted", days_ago=400)
        assert list(Attempt.verification_valid_or_pending(user)) == [new, old]
        assert Attempt.user_has_valid_or_pending(user)
        other = UserFactory()
        assert not Attempt.user_has_valid_or_pending(other)

    def test_queryset_argument_is_used_instead_of_the_table(self, user):
        make(user, "submitted")
        assert not Attempt.user_has_valid_or_pending(user, queryset=Attempt.objects.none())

    def test_active_for_user_is_newest_ready(self, user):
        assert Attempt.active_for_user(user) is None
        make(user, "ready", days_ago=2)
        newest = make(user, "ready", days_ago=1)
        make(user, "submitted")
        assert Attempt.active_for_user(user) == newest

    def test_get_expiration_datetime(self, user):
        assert Attempt.get_expiration_datetime(user) is None
        approved = make(user, "approved", days_ago=3)
        assert Attempt.get_expiration_datetime(user) == approved.created_at + timedelta(days=365)

    def test_get_initial_verification_needs_photo_id_key(self, user):
        make(user, "approved", photo_id_key="")
        assert Attempt.get_initial_verification(user) is None
        with_key = make(user, "submitted", days_ago=1, photo_id_key="sealed")
        make(user, "denied", photo_id_key="sealed")
        assert Attempt.get_initial_verification(user) == with_key
        assert Attempt.original_verification(user) == with_key
        assert (
            Attempt.get_initial_verification(
                user, earliest_allowed_date=timezone.now() - timedelta(hours=1)
            )
            is None
        )

    def test_verification_status_for_user(self, user):
        assert Attempt.verification_status_for_user(user, None, "audit") == "N/A"
        assert Attempt.verification_status_for_user(user, None, "verified") == "Not ID Verified"
        make(user, "approved")
        assert Attempt.verification_status_for_user(user, None, "professional") == "ID Verified"


class TestDatetimes:
    def test_expiration_datetime(self, user):
        attempt = make(user, "approved")
        assert attempt.expiration_datetime == attempt.created_at + timedelta(days=365)

    def test_active_at_datetime(self, user):
        attempt = make(user, "approved", days_ago=10)
        assert attempt.active_at_datetime(timezone.now())
        assert not attempt.active_at_datetime(timezone.now() - timedelta(days=11))

    def test_verification_for_datetime(self, user):
        assert Attempt.verification_for_datetime(timezone.now(), []) is None
        newer = make(user, "approved", days_ago=5)
        older = make(user, "approved", days_ago=50)
        candidates = [newer, older]
        assert Attempt.verification_for_datetime(None, candidates) == newer
        assert Attempt.verification_for_datetime(timezone.now(), candidates) == newer
        deadline = timezone.now() - timedelta(days=20)
        assert Attempt.verification_for_datetime(deadline, candidates) == older
        long_ago = timezone.now() - timedelta(days=100)
        assert Attempt.verification_for_datetime(long_ago, candidates) is None

    @freeze_time("2026-01-01")
    def test_is_verification_expiring_soon(self):
        now = timezone.now()
        assert not Attempt.is_verification_expiring_soon(None)
        assert Attempt.is_verification_expiring_soon(now + timedelta(days=28))
        assert not Attempt.is_verification_expiring_soon(now + timedelta(days=30))
        with override_settings(VERIFY_STUDENT={"EXPIRING_SOON_WINDOW": 40}):
            assert Attempt.is_verification_expiring_soon(now + timedelta(days=30))


class TestParsedErrorMsg:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (
                '[{"photoIdReasons": ["Not provided", "Text not clear"]}]',
                "No photo ID was provided., We couldn't read your name from your photo ID image.",
            ),
            (
                '[{"userPhotoReasons": ["Face out of view"], "generalReasons": ["Name mismatch"]}]',
                "Your face was not visible in your self-photo., The name associated with your "
                "account and the name on your ID do not match.",
            ),
            ('[{"photoIdReasons": ["Unknown"]}]', "There was an error verifying your ID photos."),
            ("[]", "There was an error verifying your ID photos."),
            ('{"a": 1}', "There was an error verifying your ID photos."),
            ("not json", "There was an error verifying your ID photos."),
        ],
    )
    def test_parsing(self, raw, expected):
        assert Attempt(error_msg=raw).parsed_error_msg() == expected


def test_mark_ready_uses_the_full_name_hook(user):
    attempt = AttemptFactory(user=user, status="created", name="")
    with override_settings(
        VERIFY_STUDENT={"FULL_NAME_RESOLVER": "tests.verify_student.hooks.legal_name"}
    ):
        attempt.mark_ready()
    assert Attempt.objects.get(pk=attempt.pk).name == f"LEGAL {user.username}"


def test_str_names_status_and_receipt(user):
    attempt = AttemptFactory(user=user, status="ready")
    assert "ready" in str(attempt)
    assert attempt.receipt_id in str(attempt)


def test_a_staff_denial_reason_is_shown_as_written(user):
    from tests.factories import StaffFactory
    from verify_student import api

    attempt = AttemptFactory(user=user, status="submitted")
    api.review_attempt(attempt, "deny", StaffFactory(), "Your ID photo is cut off.")
    assert Attempt.user_status(user) == ("must_reverify", "Your ID photo is cut off.")
