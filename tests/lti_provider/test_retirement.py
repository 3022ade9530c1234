"""Retiring a user forgets their LTI identities and outcome records (``lti_provider.api``).

Launches are signed by oauthlib's client (tests/lti_provider/conftest.py); the
host's retirement signal is a plain ``django.dispatch.Signal`` named in
``LTI_PROVIDER["RETIREMENT_SIGNAL"]``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

from lti_provider import api, handlers
from lti_provider.models import (
    GradedAssignment,
    Lti13GradedAssignment,
    Lti13Registration,
    LtiConsumer,
    LtiUser,
    OutcomeService,
)
from tests.factories import (
    GradedAssignmentFactory,
    LtiConsumerFactory,
    LtiUserFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

#: The host's retirement signal, as a host would define it.
user_retired = Signal()
OUTCOME_URL = "https://consumer.example.com/outcomes"


def lti13_assignment(user) -> Lti13GradedAssignment:
    registration = Lti13Registration.objects.create(
        name="Canvas",
        issuer="https://canvas.example.com",
        client_id="1",
        auth_login_url="https://canvas.example.com/authorize",
        auth_token_url="https://canvas.example.com/token",
        key_set_url="https://canvas.example.com/jwks",
        deployment_ids=["1"],
    )
    return Lti13GradedAssignment.objects.create(
        user=user,
        course_key="course-v1:Org+Course+Run",
        usage_key="block-v1:Org+Course+Run+type@problem+block@p1",
        registration=registration,
        lti_user_id="sub-1",
        lineitem_url="https://canvas.example.com/lineitems/1",
    )


def test_retire_user_deletes_identities_and_assignments_of_that_user_only():
    retired, other = UserFactory(), UserFactory()
    LtiUserFactory(edx_user=retired)
    LtiUserFactory(edx_user=retired)  # from a second consumer
    GradedAssignmentFactory(user=retired)
    lti13_assignment(retired)
    kept_identity = LtiUserFactory(edx_user=other)
    kept_assignment = GradedAssignmentFactory(user=other)
    platforms = (
        LtiConsumer.objects.count(),
        OutcomeService.objects.count(),
        Lti13Registration.objects.count(),
    )

    deleted = api.retire_user(retired)

    assert deleted == {"lti_users": 2, "graded_assignments": 1, "lti13_graded_assignments": 1}
    assert not LtiUser.objects.filter(edx_user=retired).exists()
    assert not GradedAssignment.objects.filter(user=retired).exists()
    assert not Lti13GradedAssignment.objects.filter(user=retired).exists()
    assert list(LtiUser.objects.all()) == [kept_identity]
    assert list(GradedAssignment.objects.all()) == [kept_assignment]
    # The platforms' records stay: consumers, outcome services, registrations.
    assert platforms == (
        LtiConsumer.objects.count(),
        OutcomeService.objects.count(),
        Lti13Registration.objects.count(),
    )


def test_retiring_twice_is_harmless():
    user = UserFactory()
    LtiUserFactory(edx_user=user)
    api.retire_user(user)
    assert api.retire_user(user) == {
        "lti_users": 0,
        "graded_assignments": 0,
        "lti13_graded_assignments": 0,
    }


def test_a_launch_after_retirement_gets_a_new_account(client, post_launch):
    first = post_launch(lis_result_sourcedid="src-1", lis_outcome_service_url=OUTCOME_URL)
    assert first.status_code == 200
    retired = LtiUser.objects.get(lti_user_id="lti-learner-1").edx_user
    assert GradedAssignment.objects.get().user == retired

    deleted = api.retire_user(retired)
    assert (deleted["lti_users"], deleted["graded_assignments"]) == (1, 1)
    client.logout()
    again = post_launch(lis_result_sourcedid="src-1", lis_outcome_service_url=OUTCOME_URL)

    assert again.status_code == 200
    relinked = LtiUser.objects.get(lti_user_id="lti-learner-1").edx_user
    assert relinked != retired
    assert client.session[SESSION_KEY] == str(relinked.pk)
    assert GradedAssignment.objects.get().user == relinked


def test_a_linking_consumer_does_not_relink_the_retired_account(client, post_launch, consumer):
    consumer.require_user_account = True
    consumer.save()
    learner = UserFactory(username="ada", email="ada@example.com")
    LtiUserFactory(lti_consumer=consumer, lti_user_id="lti-learner-1", edx_user=learner)
    assert post_launch(lis_person_contact_email_primary="ada@example.com").status_code == 200
    assert client.session[SESSION_KEY] == str(learner.pk)

    api.retire_user(learner)
    client.logout()
    response = post_launch(lis_person_contact_email_primary="ada@example.com")

    # Unknown again: the learner must log in before anything is linked.
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == "/accounts/login/"
    assert not LtiUser.objects.exists()
    assert SESSION_KEY not in client.session


# -- the host's retirement signal --------------------------------------------------------


def with_retirement_signal(settings, path: str) -> None:
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "RETIREMENT_SIGNAL": path}


@pytest.fixture
def retirement_signal(settings):
    """The receiver follows the setting; the settings fixture restores (and disconnects)."""
    with_retirement_signal(settings, f"{__name__}.user_retired")
    return user_retired


def test_the_configured_signal_retires_the_user(retirement_signal):
    user = UserFactory()
    LtiUserFactory(edx_user=user)
    GradedAssignmentFactory(user=user)

    retirement_signal.send(sender=None, user=user)

    assert not LtiUser.objects.filter(edx_user=user).exists()
    assert not GradedAssignment.objects.filter(user=user).exists()


def test_the_signal_without_user_is_an_error(retirement_signal):
    with pytest.raises(TypeError, match="user="):
        retirement_signal.send(sender=None)


def test_nothing_is_connected_by_default():
    user = UserFactory()
    LtiUserFactory(edx_user=user)
    assert not user_retired.has_listeners()
    user_retired.send(sender=None, user=user)
    assert LtiUser.objects.filter(edx_user=user).exists()


def test_the_receiver_leaves_the_signal_when_the_setting_is_removed(settings):
    with_retirement_signal(settings, f"{__name__}.user_retired")
    assert user_retired.has_listeners()
    with_retirement_signal(settings, None)
    assert not user_retired.has_listeners()
    handlers.connect_retirement_receiver()  # connecting again changes nothing
    assert not user_retired.has_listeners()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"{__name__}.OUTCOME_URL", "is not a django.dispatch.Signal"),
        ("no.such.signal", "cannot be imported"),
    ],
)
def test_a_setting_that_is_not_a_signal_is_refused(settings, path, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        with_retirement_signal(settings, path)
    assert not user_retired.has_listeners()


def test_the_consumer_factory_is_untouched_by_retirement():
    consumer = LtiConsumerFactory()
    api.retire_user(UserFactory())
    assert LtiConsumer.objects.get() == consumer
