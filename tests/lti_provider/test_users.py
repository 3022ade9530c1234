"""The auto-link-by-email service, called the way a host would: with a request."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError
from django.test import RequestFactory, override_settings

from lti_provider import users
from lti_provider.exceptions import EmailMismatch, InactiveUser, LtiLoginRequired, MissingEmail
from lti_provider.models import LtiConsumer, LtiUser
from lti_provider.users import (
    authenticate_lti_user,
    create_lti_user,
    emails_match,
    random_username,
)
from tests.factories import LtiConsumerFactory, LtiUserFactory, UserFactory

User = get_user_model()


@pytest.fixture
def make_request(db):
    def make(user=None):
        request = RequestFactory().post("/lti_provider/courses/c/u")
        SessionMiddleware(lambda r: None).process_request(request)
        request.session.save()
        request.user = user or AnonymousUser()
        return request

    return make


@pytest.fixture
def linking_consumer(db):
    return LtiConsumerFactory(require_user_account=True)


# --- known identity -----------------------------------------------------------------


def test_a_known_identity_logs_in_its_user(make_request):
    lti_user = LtiUserFactory()
    request = make_request()
    got = authenticate_lti_user(request, lti_user.lti_user_id, lti_user.lti_consumer)
    assert got == lti_user.edx_user
    assert request.user == lti_user.edx_user
    assert request.session[SESSION_KEY] == str(lti_user.edx_user.pk)


def test_a_known_identity_of_an_inactive_user_is_refused(make_request):
    lti_user = LtiUserFactory(edx_user__is_active=False)
    request = make_request()
    with pytest.raises(InactiveUser):
        authenticate_lti_user(request, lti_user.lti_user_id, lti_user.lti_consumer)
    assert not request.user.is_authenticated


def test_the_session_switches_to_the_linked_user_with_a_new_key(make_request):
    lti_user = LtiUserFactory()
    other = UserFactory()
    request = make_request(other)
    old_key = request.session.session_key
    authenticate_lti_user(request, lti_user.lti_user_id, lti_user.lti_consumer)
    assert request.user == lti_user.edx_user
    assert request.session.session_key != old_key


def test_the_session_is_kept_when_already_the_linked_user(make_request):
    lti_user = LtiUserFactory()
    request = make_request(lti_user.edx_user)
    old_key = request.session.session_key
    with mock.patch.object(users, "login") as login:
        authenticate_lti_user(request, lti_user.lti_user_id, lti_user.lti_consumer)
    login.assert_not_called()
    assert request.session.session_key == old_key


def test_a_known_identity_ignores_the_asserted_email(make_request, linking_consumer):
    lti_user = LtiUserFactory(lti_consumer=linking_consumer)
    someone_else = UserFactory()
    request = make_request()
    got = authenticate_lti_user(
        request, lti_user.lti_user_id, linking_consumer, email=someone_else.email
    )
    assert got == lti_user.edx_user


@override_settings(AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.ModelBackend"])
def test_a_missing_backend_is_reported_clearly(make_request):
    lti_user = LtiUserFactory()
    with pytest.raises(ImproperlyConfigured, match="LtiBackend"):
        authenticate_lti_user(make_request(), lti_user.lti_user_id, lti_user.lti_consumer)


# --- new identity, consumer without require_user_account ------------------------------


def test_a_new_identity_gets_a_new_account(make_request):
    consumer = LtiConsumerFactory()
    request = make_request()
    user = authenticate_lti_user(request, "new-learner", consumer, email="ada@example.com")
    assert user.email == f"{user.username}@lti.example.com"
    assert len(user.username) == users.USERNAME_LENGTH
    assert not user.has_usable_password()
    assert user.is_active
    assert LtiUser.objects.get(lti_consumer=consumer, lti_user_id="new-learner").edx_user == user
    assert request.user == user


@override_settings(LTI_USER_EMAIL_DOMAIN="learners.example.org")
def test_the_email_domain_follows_the_setting(db):
    lti_user = create_lti_user("x", LtiConsumerFactory())
    assert lti_user.edx_user.email.endswith("@learners.example.org")


def test_an_asserted_email_never_takes_over_an_existing_account(make_request):
    """Without require_user_account a consumer could otherwise log in as anyone."""
    admin = UserFactory(username="admin", email="admin@example.com", is_superuser=True)
    consumer = LtiConsumerFactory(require_user_account=False)
    request = make_request()
    user = authenticate_lti_user(request, "attacker", consumer, email=" ADMIN@example.com ")
    assert user != admin
    assert request.user != admin
    assert request.session[SESSION_KEY] != str(admin.pk)
    assert not LtiUser.objects.filter(edx_user=admin).exists()
    assert not user.is_superuser and not user.is_staff


def test_random_usernames_come_from_a_csprng():
    with mock.patch.object(users.secrets, "choice", return_value="Z") as choice:
        assert random_username() == "Z" * users.USERNAME_LENGTH
    assert choice.call_count == users.USERNAME_LENGTH
    assert len({random_username() for _ in range(50)}) == 50


def test_a_username_collision_is_retried(db):
    taken = UserFactory(username="taken")
    names = iter(["taken", "fresh-name"])
    with mock.patch.object(users, "random_username", side_effect=lambda: next(names)):
        lti_user = create_lti_user("someone", LtiConsumerFactory())
    assert lti_user.edx_user.username == "fresh-name"
    assert lti_user.edx_user != taken
    assert User.objects.filter(username="taken").count() == 1


def test_endless_username_collisions_give_up(db):
    UserFactory(username="taken")
    with (
        mock.patch.object(users, "random_username", return_value="taken"),
        pytest.raises(IntegrityError),
    ):
        create_lti_user("someone", LtiConsumerFactory())
    assert not LtiUser.objects.exists()


def test_a_concurrent_first_launch_reuses_the_winners_link(db):
    """The loser of the race hits the unique constraint and re-reads the row."""
    winner = LtiUserFactory(lti_user_id="raced")
    users_before = User.objects.count()
    real_find = users.find_lti_user
    calls = []

    def find(consumer, lti_user_id, instance_guid=""):
        calls.append(lti_user_id)
        # The first lookup ran before the winner committed: it saw nothing.
        return None if len(calls) == 1 else real_find(consumer, lti_user_id, instance_guid)

    with mock.patch.object(users, "find_lti_user", side_effect=find):
        request = RequestFactory().post("/")
        SessionMiddleware(lambda r: None).process_request(request)
        request.user = AnonymousUser()
        got = authenticate_lti_user(request, "raced", winner.lti_consumer)
    assert got == winner.edx_user
    assert LtiUser.objects.filter(lti_user_id="raced").count() == 1
    assert User.objects.count() == users_before  # the loser's new user was rolled back


# --- new identity, consumer with require_user_account --------------------------------


def test_a_logged_in_learner_with_the_same_email_is_linked(make_request, linking_consumer):
    learner = UserFactory(email="Ada@Example.com")
    request = make_request(learner)
    got = authenticate_lti_user(request, "lti-ada", linking_consumer, email="  ada@example.COM ")
    assert got == learner
    assert LtiUser.objects.get(lti_user_id="lti-ada").edx_user == learner


def test_a_second_consumer_links_a_second_identity_to_the_same_user(make_request, linking_consumer):
    learner = UserFactory()
    other_consumer = LtiConsumerFactory(require_user_account=True)
    authenticate_lti_user(make_request(learner), "id-1", linking_consumer, email=learner.email)
    authenticate_lti_user(make_request(learner), "id-2", other_consumer, email=learner.email)
    links = LtiUser.objects.filter(edx_user=learner)
    assert {(link.lti_consumer, link.lti_user_id) for link in links} == {
        (linking_consumer, "id-1"),
        (other_consumer, "id-2"),
    }


def test_no_one_logged_in_asks_for_a_login(make_request, linking_consumer):
    UserFactory(email="ada@example.com")
    with pytest.raises(LtiLoginRequired):
        authenticate_lti_user(make_request(), "lti-ada", linking_consumer, email="ada@example.com")
    assert not LtiUser.objects.exists()


def test_another_email_is_a_mismatch(make_request, linking_consumer):
    learner = UserFactory(email="grace@example.com")
    with pytest.raises(EmailMismatch) as excinfo:
        authenticate_lti_user(
            make_request(learner), "lti-ada", linking_consumer, email="ada@example.com"
        )
    assert "ada@example.com" not in str(excinfo.value)
    assert "grace@example.com" not in str(excinfo.value)
    assert not LtiUser.objects.exists()


@pytest.mark.parametrize("email", [None, "", "   "])
def test_a_launch_without_email_cannot_be_linked(make_request, linking_consumer, email):
    learner = UserFactory(email="")
    with pytest.raises(MissingEmail):
        authenticate_lti_user(make_request(learner), "lti-x", linking_consumer, email=email)


def test_an_account_without_email_never_matches(make_request, linking_consumer):
    learner = UserFactory(email="")
    with pytest.raises(EmailMismatch):
        authenticate_lti_user(make_request(learner), "lti-x", linking_consumer, email="a@b.c")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("a@example.com", "A@EXAMPLE.COM", True),
        (" a@example.com\t", "a@example.com", True),
        ("a@example.com", "b@example.com", False),
        ("", "", False),
        (None, None, False),
        ("a@example.com", None, False),
    ],
)
def test_emails_match(a, b, expected):
    assert emails_match(a, b) is expected


# --- the identity read with its consumer (LtiConsumer.objects.for_launch) ---------


def test_the_consumer_comes_with_the_identity_and_its_user_in_one_query(
    db, django_assert_num_queries
):
    link = LtiUserFactory(lti_user_id="joined")
    key = link.lti_consumer.consumer_key
    with django_assert_num_queries(1):
        consumer = LtiConsumer.objects.for_launch(key, "joined")
        found = users.find_lti_user(consumer, "joined")
        assert found == link
        assert found.edx_user == link.edx_user
        assert found.lti_consumer is consumer


def test_a_joined_consumer_without_the_identity_answers_none_without_a_query(
    db, django_assert_num_queries
):
    other = LtiUserFactory(lti_user_id="someone-else")
    consumer = LtiConsumer.objects.for_launch(other.lti_consumer.consumer_key, "nobody")
    with django_assert_num_queries(0):
        assert users.find_lti_user(consumer, "nobody") is None


def test_another_identity_than_the_joined_one_is_read_from_the_database(
    db, django_assert_num_queries
):
    link = LtiUserFactory(lti_user_id="second")
    consumer = LtiConsumer.objects.for_launch(link.lti_consumer.consumer_key, "first")
    with django_assert_num_queries(1):
        assert users.find_lti_user(consumer, "second") == link


def test_a_link_made_after_the_joined_read_is_found_by_the_loser_of_the_race(db, make_request):
    """The joined read saw no link; another launch made it before this one inserts."""
    consumer_row = LtiConsumerFactory()
    consumer = LtiConsumer.objects.for_launch(consumer_row.consumer_key, "raced")
    winner = LtiUserFactory(lti_consumer=consumer_row, lti_user_id="raced")
    users_before = User.objects.count()
    got = authenticate_lti_user(make_request(None), "raced", consumer)
    assert got == winner.edx_user
    assert LtiUser.objects.filter(lti_user_id="raced").count() == 1
    assert User.objects.count() == users_before


def test_for_launch_knows_no_unknown_key(db):
    LtiUserFactory(lti_user_id="joined")
    assert LtiConsumer.objects.for_launch("no-such-key", "joined") is None
    assert LtiConsumer.objects.for_launch("no-such-key") is None
