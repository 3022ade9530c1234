"""LtiBackend: authenticates only a full, active LTI link."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from lti_provider.backends import LtiBackend
from tests.factories import LtiConsumerFactory, LtiUserFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lti_user():
    return LtiUserFactory()


def credentials(lti_user, **overrides):
    values = {
        "username": lti_user.edx_user.username,
        "lti_user_id": lti_user.lti_user_id,
        "lti_consumer": lti_user.lti_consumer,
    }
    values.update(overrides)
    return values


def test_a_full_match_authenticates_the_linked_user(lti_user):
    assert LtiBackend().authenticate(None, **credentials(lti_user)) == lti_user.edx_user


def test_it_works_through_django_authenticate(rf, lti_user):
    assert authenticate(rf.get("/"), **credentials(lti_user)) == lti_user.edx_user


@pytest.mark.parametrize("missing", ["username", "lti_user_id", "lti_consumer"])
def test_every_credential_is_required(lti_user, missing):
    assert LtiBackend().authenticate(None, **credentials(lti_user, **{missing: None})) is None


def test_another_username_is_refused(lti_user):
    other = UserFactory()
    assert LtiBackend().authenticate(None, **credentials(lti_user, username=other.username)) is None


def test_another_lti_user_id_is_refused(lti_user):
    assert LtiBackend().authenticate(None, **credentials(lti_user, lti_user_id="other")) is None


def test_another_consumer_is_refused(lti_user):
    other = LtiConsumerFactory()
    assert LtiBackend().authenticate(None, **credentials(lti_user, lti_consumer=other)) is None


def test_an_inactive_user_is_refused():
    lti_user = LtiUserFactory(edx_user__is_active=False)
    assert LtiBackend().authenticate(None, **credentials(lti_user)) is None


def test_a_password_login_is_not_its_business(lti_user):
    assert LtiBackend().authenticate(None, username=lti_user.edx_user.username) is None


def test_get_user(lti_user):
    backend = LtiBackend()
    assert backend.get_user(lti_user.edx_user.pk) == lti_user.edx_user
    assert backend.get_user(999_999) is None


def test_get_user_refuses_an_inactive_user():
    user = UserFactory(is_active=False)
    assert LtiBackend().get_user(user.pk) is None
