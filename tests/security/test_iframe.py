"""Launches from inside an LMS iframe: SameSite=None; Secure cookies, cross-site flow, check."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, override_settings

from lti_provider.checks import check_cross_site_cookies
from lti_provider.models import LtiUser
from tests.factories import UserFactory
from tests.security.helpers import launch_params, post_launch, sign_launch

pytestmark = pytest.mark.django_db

CROSS_SITE = {
    "SESSION_COOKIE_SAMESITE": "None",
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SAMESITE": "None",
    "CSRF_COOKIE_SECURE": True,
}
LMS = "https://consumer-lms.example.org"  # the consumer's site: every request is cross-site


def assert_cross_site_cookie(response, name: str) -> None:
    morsel = response.cookies[name]
    assert morsel["samesite"] == "None", name
    assert morsel["secure"], name
    assert morsel["httponly"] or name == "csrftoken", name


@override_settings(**CROSS_SITE)
def test_the_launch_sets_a_session_cookie_that_survives_a_cross_site_iframe(consumer):
    client = Client(enforce_csrf_checks=True)
    response = post_launch(sign_launch(consumer), client=client, HTTP_ORIGIN=LMS, HTTP_REFERER=LMS)
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    assert_cross_site_cookie(response, "sessionid")


@override_settings(**CROSS_SITE)
def test_login_and_resume_completes_cross_site_with_a_secure_client(consumer, login_page):
    consumer.require_user_account = True
    consumer.save()
    learner = UserFactory(username="ada", email="ada@example.com")
    client = Client(enforce_csrf_checks=True)
    launched = post_launch(
        sign_launch(consumer, launch_params(lis_person_contact_email_primary="ada@example.com")),
        client=client,
        HTTP_ORIGIN=LMS,
    )
    assert launched.status_code == 302
    login_url = launched["Location"]
    (next_url,) = parse_qs(urlsplit(login_url).query)["next"]

    page = client.get(login_url, secure=True)
    assert page.status_code == 200
    assert_cross_site_cookie(page, "csrftoken")
    token = client.cookies["csrftoken"].value
    logged_in = client.post(
        login_url,
        {"username": "ada", "password": "password", "csrfmiddlewaretoken": token, "next": next_url},
        secure=True,
        HTTP_REFERER=f"https://testserver{login_url}",
    )
    assert logged_in.status_code == 302
    assert logged_in["Location"] == next_url
    assert_cross_site_cookie(logged_in, "sessionid")

    resumed = client.get(next_url, secure=True)
    assert resumed.status_code == 200
    assert "X-Frame-Options" not in resumed.headers
    assert LtiUser.objects.get(lti_consumer=consumer).edx_user == learner


@override_settings(**CROSS_SITE)
def test_the_cross_site_settings_raise_no_warning():
    assert check_cross_site_cookies() == []


@pytest.mark.parametrize(
    ("overrides", "ids"),
    [
        ({}, {"lti_provider.W001", "lti_provider.W002"}),  # Django's defaults: Lax, not Secure
        ({"SESSION_COOKIE_SAMESITE": "Lax"}, {"lti_provider.W001"}),
        ({"SESSION_COOKIE_SECURE": False}, {"lti_provider.W001"}),
        ({"CSRF_COOKIE_SAMESITE": "Strict"}, {"lti_provider.W002"}),
        ({"CSRF_COOKIE_SAMESITE": False}, {"lti_provider.W002"}),
        ({"CSRF_COOKIE_SECURE": False}, {"lti_provider.W002"}),
    ],
)
def test_cookies_a_cross_site_iframe_would_drop_are_warned_about(settings, overrides, ids):
    for name, value in {**CROSS_SITE, **overrides}.items():
        setattr(settings, name, value)
    if not overrides:
        for name in CROSS_SITE:
            delattr(settings, name)
    warnings = check_cross_site_cookies()
    assert {w.id for w in warnings} == ids
    assert all(w.hint and "None" in w.hint for w in warnings)


@override_settings(FEATURES={"ENABLE_LTI_PROVIDER": False})
def test_no_warning_when_the_lti_provider_is_off():
    assert check_cross_site_cookies() == []
