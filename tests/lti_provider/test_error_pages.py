"""The page of a refused launch: styled, on the host's base template, advice that fits."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings

from lti_provider import exceptions
from lti_provider.exceptions import EmailMismatch, LtiError
from tests.factories import UserFactory
from tests.lti_provider.conftest import FORM, launch_path

LOG_OUT = re.compile(r"\blog out\b", re.IGNORECASE)


def error_classes() -> list[type[LtiError]]:
    found = []
    pending = [LtiError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == exceptions.__name__]


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_says_what_the_learner_can_do(cls):
    assert str(cls.public_message).strip()
    assert str(cls.advice).strip()
    # Only a wrong account is mended by logging out.
    assert cls.switch_account is (cls is EmailMismatch)
    assert bool(LOG_OUT.search(str(cls.advice))) is (cls is EmailMismatch)


def test_a_bad_signature_does_not_tell_a_logged_in_learner_to_log_out(
    client, consumer, signed_launch
):
    learner = UserFactory(username="ada")
    client.force_login(learner)
    response = client.post(
        launch_path(), signed_launch(secret="not-the-secret"), content_type=FORM, secure=True
    )
    assert response.status_code == 403
    body = response.content.decode()
    assert "The LTI launch signature is not valid." in body
    assert "launch the content again" in body
    assert not LOG_OUT.search(body)
    assert "ada" not in body


def test_a_replayed_launch_explains_that_a_launch_works_once(client, consumer, signed_launch):
    body = signed_launch()
    assert client.post(launch_path(), body, content_type=FORM, secure=True).status_code == 200
    again = client.post(launch_path(), body, content_type=FORM, secure=True)
    assert again.status_code == 403
    assert "can be used only once" in again.content.decode()


@override_settings(FEATURES={"ENABLE_LTI_PROVIDER": False})
def test_launches_turned_off_say_so(client, consumer, signed_launch):
    response = client.post(launch_path(), signed_launch(), content_type=FORM, secure=True)
    assert response.status_code == 403
    assert "does not accept launches from learning platforms" in response.content.decode()


def test_the_wrong_account_is_named_and_logging_out_advised(client, post_launch, consumer):
    consumer.require_user_account = True
    consumer.save()
    UserFactory(username="grace", email="grace@example.com")
    login = post_launch(lis_person_contact_email_primary="ada@example.com")
    next_url = parse_qs(urlsplit(login["Location"]).query)["next"][0]
    client.login(username="grace", password="password")
    response = client.get(next_url)
    assert response.status_code == 403
    body = response.content.decode()
    assert "You are logged in as grace." in body
    assert LOG_OUT.search(body)
    assert "ada@example.com" not in body and "grace@example.com" not in body


def test_the_page_is_styled_on_the_default_base_template(client, consumer):
    response = client.post(launch_path(), "", content_type=FORM, secure=True)
    assert response.status_code == 400
    body = response.content.decode()
    assert body.lstrip().startswith("<!DOCTYPE html>")
    assert '<link rel="stylesheet" href="/static/lti_provider/lti.css">' in body
    assert 'role="alert"' in body
    assert "Error 400" in body


def test_the_host_names_the_base_template(client, consumer, settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "BASE_TEMPLATE": "host/base.html"}
    response = client.post(launch_path(), "", content_type=FORM, secure=True)
    body = response.content.decode()
    assert "<header>The host's own header</header>" in body
    assert "<title>Host LMS: This content cannot be shown</title>" in body
