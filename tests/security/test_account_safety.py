"""Account safety: no launch reaches an account its learner has not proved to own.

Proven elsewhere and not repeated: staff without ``review_photos`` get 403 on
the review page and both image URLs, non-staff are sent to the admin login
(tests/verify_student/test_admin.py); a learner gets 403 for another user's
status (tests/verify_student/test_views.py::TestStatusApi); CSRF on the photo
submission (test_views.py::TestSubmitPhotos::test_csrf_is_enforced); a
consumer sending another's instance guid or outcome URL
(tests/lti_provider/test_views.py, test_launch.py).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY, authenticate
from django.test import Client
from django.urls import reverse

from lti_provider.models import LtiUser
from tests.factories import LtiUserFactory, StaffFactory, UserFactory
from tests.security.helpers import launch_params, post_launch, sign_launch, snapshot

pytestmark = pytest.mark.django_db


def session_user(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


def test_the_same_user_id_from_two_consumers_is_two_identities(consumer, other_consumer):
    first, second = Client(), Client()
    assert post_launch(sign_launch(consumer), client=first).status_code == 200
    assert post_launch(sign_launch(other_consumer), client=second).status_code == 200
    identities = LtiUser.objects.filter(lti_user_id="lti-learner-1")
    assert identities.count() == 2
    assert len({identity.edx_user_id for identity in identities}) == 2
    assert session_user(first) != session_user(second)


def test_a_consumer_cannot_reach_another_consumers_linked_account(consumer, other_consumer):
    victim = UserFactory(email="victim@example.com")
    LtiUserFactory(lti_consumer=consumer, lti_user_id="victim-id", edx_user=victim)
    client = Client()
    params = launch_params(user_id="victim-id", lis_person_contact_email_primary=victim.email)
    assert post_launch(sign_launch(other_consumer, params), client=client).status_code == 200
    assert session_user(client) != str(victim.pk)
    assert LtiUser.objects.get(lti_consumer=other_consumer).edx_user != victim


def test_an_anonymous_launch_never_logs_in_an_existing_account(consumer):
    consumer.require_user_account = True
    consumer.save()
    admin = StaffFactory(email="admin@example.com", is_superuser=True)
    client = Client()
    before = snapshot()
    params = launch_params(lis_person_contact_email_primary="admin@example.com")
    response = post_launch(sign_launch(consumer, params), client=client)
    assert response.status_code == 302
    assert snapshot() == before
    assert session_user(client) is None
    assert not LtiUser.objects.filter(edx_user=admin).exists()


def test_whoever_is_logged_in_is_not_linked_by_a_consumer_without_account_requirement(consumer):
    """On a shared computer, a launch switches the session; it never adopts the account."""
    someone = UserFactory(email="someone@example.com")
    client = Client()
    client.force_login(someone)
    params = launch_params(lis_person_contact_email_primary="someone@example.com")
    assert post_launch(sign_launch(consumer, params), client=client).status_code == 200
    created = LtiUser.objects.get().edx_user
    assert created != someone
    assert session_user(client) == str(created.pk)


def test_an_lti_made_account_cannot_log_in_with_a_password(consumer, login_page):
    assert post_launch(sign_launch(consumer)).status_code == 200
    account = LtiUser.objects.get().edx_user
    assert not account.has_usable_password()
    client = Client()
    for password in ("", "password", account.password or "x"):
        response = client.post(
            reverse("login"), {"username": account.username, "password": password}
        )
        assert response.status_code == 200  # the form again, with its error
    assert session_user(client) is None


def test_the_lti_backend_never_authenticates_on_a_username_alone(consumer):
    linked = LtiUserFactory(lti_consumer=consumer)
    username = linked.edx_user.username
    assert authenticate(None, username=username) is None
    assert authenticate(None, username=username, lti_user_id=linked.lti_user_id) is None
    other = LtiUserFactory()  # another consumer's identity
    assert (
        authenticate(
            None, username=username, lti_user_id=linked.lti_user_id, lti_consumer=other.lti_consumer
        )
        is None
    )


@pytest.mark.parametrize("path_form", [True, False])
def test_a_learner_cannot_read_another_learners_status(path_form):
    learner, other = UserFactory(), UserFactory()
    client = Client()
    client.force_login(learner)
    if path_form:
        response = client.get(reverse("verification_status_api_for_user", args=[other.username]))
    else:
        response = client.get(reverse("verification_status_api"), {"username": other.username})
    assert response.status_code == 403
    anonymous = Client().get(reverse("verification_status_api_for_user", args=[other.username]))
    assert anonymous.status_code == 401
