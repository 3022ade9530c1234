"""The demo site without a browser: the seed, the outcome service's checks, error pages."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER, Client

from demo.consumer import GRADEBOOK_KEY
from demo.management.commands.seed_demo import Command as SeedDemo
from demo.seed import DEMO_COURSE, seed
from lti_provider.models import LtiConsumer
from lti_provider.outcomes import raise_for_replace_result, replace_result_xml
from tests.browser.conftest import use_demo_settings
from verify_student import api

pytestmark = pytest.mark.django_db

BASE = "http://testserver"


@pytest.fixture
def demo_settings(settings, tmp_path):
    use_demo_settings(settings, BASE, tmp_path / "photos")
    return settings


def test_seeding_twice_refreshes_passwords_and_keeps_consumers():
    first = seed()
    keys = {c.consumer_name: (c.consumer_key, c.consumer_secret) for c in first.consumers}
    second = seed()
    assert {c.consumer_name: (c.consumer_key, c.consumer_secret) for c in second.consumers} == keys
    assert [login[2] for login in first.logins] != [login[2] for login in second.logins]
    assert get_user_model().objects.count() == 3
    assert LtiConsumer.objects.count() == 3
    assert sorted(c.require_user_account for c in second.consumers) == [False, True, True]
    assert api.deadline_for_course(DEMO_COURSE) == second.deadline


def test_the_reviewer_is_staff_with_review_rights_but_not_a_superuser():
    data = seed()
    reviewer = get_user_model().objects.get(username="reviewer")
    assert reviewer.is_staff and not reviewer.is_superuser
    assert reviewer.has_perm("verify_student.review_photos")
    assert reviewer.has_perm("verify_student.change_softwaresecurephotoverification")
    assert not reviewer.has_perm("auth.change_user")
    password = {name: pw for _role, name, pw in data.logins}["reviewer"]
    assert reviewer.check_password(password)


def test_the_command_prints_the_url_and_the_logins():
    out = io.StringIO()
    call_command(SeedDemo(), url="http://127.0.0.1:8000/", stdout=out)
    text = out.getvalue()
    assert "http://127.0.0.1:8000/" in text
    for username in ("reviewer", "learner", "learner2"):
        user = get_user_model().objects.get(username=username)
        password = next(
            line.split()[-1] for line in text.splitlines() if f" {username} " in f"{line} "
        )
        assert user.check_password(password)


def signed_outcome(consumer, body: bytes, secret: str | None = None):
    client = Client(
        consumer.consumer_key,
        client_secret=secret or consumer.consumer_secret,
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
    )
    url = f"{BASE}/lti/outcomes/{consumer.pk}/"
    _uri, headers, _ = client.sign(
        url, http_method="POST", body=body.decode(), headers={"Content-Type": "application/xml"}
    )
    return url, headers


@pytest.fixture
def canvas(demo_settings):
    return next(c for c in seed().consumers if c.consumer_name == "Demo Canvas")


def post_outcome(client, url, body, headers):
    return client.post(
        url,
        body,
        content_type="application/xml",
        HTTP_AUTHORIZATION=headers["Authorization"],
    )


def test_the_outcome_service_keeps_a_signed_score(client, canvas):
    body = replace_result_xml(f"{canvas.pk}:learner-1:block", 0.75, "msg-1")
    url, headers = signed_outcome(canvas, body)
    response = post_outcome(client, url, body, headers)
    raise_for_replace_result(response.content)  # the provider reads it as success
    from django.core.cache import cache

    [entry] = cache.get(GRADEBOOK_KEY)
    assert (entry["consumer"], entry["learner"], entry["score"]) == (
        "Demo Canvas",
        "learner-1",
        "0.75",
    )
    assert b"Demo Canvas" in client.get("/lti/gradebook/").content


@pytest.mark.parametrize("attack", ["tampered body", "wrong secret", "replayed"])
def test_the_outcome_service_refuses_what_it_cannot_verify(client, canvas, attack):
    from django.core.cache import cache

    body = replace_result_xml(f"{canvas.pk}:learner-1:block", 0.5, "msg-2")
    url, headers = signed_outcome(
        canvas, body, secret="x" * 32 if attack == "wrong secret" else None
    )
    if attack == "replayed":
        post_outcome(client, url, body, headers)
        cache.delete(GRADEBOOK_KEY)
    if attack == "tampered body":
        body = body.replace(b"0.5", b"1.0")
    response = post_outcome(client, url, body, headers)
    assert b"<imsx_codeMajor>failure</imsx_codeMajor>" in response.content
    assert not cache.get(GRADEBOOK_KEY)


def test_error_pages_are_readable_with_debug_off(client, demo_settings):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"Traceback" not in response.content


def test_the_learner_page_asks_for_a_login(client, demo_settings):
    response = client.get("/verify_student/verify/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/verify_student/verify/")
    start = client.get("/")
    assert start.status_code == 200
    assert b'href="/verify_student/verify/"' in start.content  # the shipped learner page
    assert client.get("/lti/sandbox/").status_code == 200
