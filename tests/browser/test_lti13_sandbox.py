"""LTI 1.3 launches from the sandbox's platform, in a real browser.

The demo site plays the platform for itself (``demo/platform13.py``): the
sandbox starts the third-party initiated login, the tool redirects to the
platform's OIDC authorization endpoint, which posts a signed id_token back
to the tool. A registration requiring an account sends the learner to log
in, resumes and links the ``sub`` (an ``LtiUser`` of the registration's
consumer); the score sent from the content reaches the platform's AGS line
item with a bearer token the platform issued for the tool's signed
assertion, and shows in the gradebook.

The platform's own refusals (token, score, authorization endpoints) are
checked without a browser.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from django.core.cache import cache
from django.urls import reverse
from playwright.sync_api import expect

from demo.consumer import GRADEBOOK_KEY
from demo.platform13 import ASSERTION_TYPE, SCORE_SCOPE, seed_registrations
from lti_provider.models import Lti13GradedAssignment, Lti13Registration, LtiUser
from tests.browser.conftest import DemoSite, fill_login, save_screenshot, use_demo_settings

REQUIRING = "Demo LTI 1.3 platform"
OPEN = "Demo LTI 1.3 open platform"


@pytest.fixture
def site13(demo_site: DemoSite, live_server: Any) -> DemoSite:
    """The demo site with its LTI 1.3 platforms registered at the live server's URL."""
    seed_registrations(live_server.url)
    return demo_site


def registration(name: str) -> Lti13Registration:
    return Lti13Registration.objects.select_related("lti_consumer").get(name=name)


def launch13(
    page,
    site: DemoSite,
    platform: str,
    sub: str,
    email: str | None = "learner@demo.invalid",
    target: str = "_self",
) -> None:
    """From the sandbox, choose LTI 1.3 and launch as the platform would."""
    page.goto(f"{site.url}/lti/sandbox/")
    page.get_by_role("link", name="LTI 1.3").click()
    expect(page.locator("#tab-lti13")).to_have_attribute("aria-current", "page")
    page.select_option("#id_registration", value=str(registration(platform).pk))
    page.fill("#id_sub", sub)
    page.set_checked("#id_send_email", email is not None)
    page.fill("#id_email", email or "")
    page.set_checked("#id_send_ags", True)
    page.select_option("#id_target", value=target)
    page.get_by_role("button", name="Launch").click()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_13_launch_requiring_an_account_logs_in_resumes_links_and_grades(site13, new_page):
    page = new_page(width=390, height=844)
    page.goto(f"{site13.url}/lti/sandbox/lti13/")
    save_screenshot(page, "lti13-sandbox.png", full_page=True)
    launch13(page, site13, REQUIRING, "platform-learner-42")

    # OIDC login -> the platform's auth endpoint -> id_token posted to the tool; not
    # logged in, so the tool keeps the launch and asks for a login.
    expect(page.locator("#lti-login-notice")).to_be_visible()
    assert "/accounts/login/?next=/lti_provider/resume/" in page.url
    assert not LtiUser.objects.exists()
    fill_login(page, "learner", site13.passwords["learner"])

    # The launch resumes as the learner; the platform's sub is linked to the account.
    expect(page.locator("h1")).to_have_text("Quiz 1: identity basics")
    expect(page.locator(".whoami")).to_have_text("learner")
    expect(page.locator("#identities")).to_contain_text(
        f"LTI 1.3: {REQUIRING}: platform-learner-42"
    )
    reg = registration(REQUIRING)
    link = LtiUser.objects.select_related("edx_user").get()
    assert (link.lti_consumer_id, link.lti_user_id) == (reg.lti_consumer_id, "platform-learner-42")
    assert link.edx_user.username == "learner"
    assignment = Lti13GradedAssignment.objects.get()
    assert assignment.registration == reg and assignment.user == link.edx_user
    assert assignment.lineitem_url == f"{site13.url}/lti/platform13/lineitems/{reg.pk}/quiz1"

    # The learner answers: score_changed -> AGS token (the tool's signed JWT) -> score POST.
    page.locator("#id_points").select_option("8")
    page.get_by_role("button", name="Submit the answer").click()
    expect(page.locator("#score-sent")).to_have_text("Score 8/10 sent to 1 consumer expecting it.")

    page.goto(f"{site13.url}/lti/gradebook/")
    rows = page.locator("#gradebook tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator(".consumer")).to_have_text(REQUIRING)
    expect(rows.locator(".learner")).to_have_text("platform-learner-42")
    expect(rows.locator(".score")).to_have_text("0.8")
    expect(rows.locator(".via")).to_have_text("LTI 1.3 / AGS")
    save_screenshot(page, "lti13-gradebook.png", full_page=True)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_13_launch_without_an_email_in_an_iframe(site13, new_page):
    page = new_page()
    # A registration requiring an account cannot tell who the learner is: refused, readably.
    launch13(page, site13, REQUIRING, "platform-learner-43", email=None)
    expect(page.locator("body")).to_contain_text("did not send an email address")
    assert not LtiUser.objects.exists()

    # The open platform, in an iframe: the learner gets an account of their own.
    launch13(page, site13, OPEN, "anon-13", email=None, target="iframe")
    tool = page.frame_locator("#lti-tool")
    expect(tool.locator("h1")).to_have_text("Quiz 1: identity basics")
    link = LtiUser.objects.select_related("edx_user").get(lti_user_id="anon-13")
    assert link.lti_consumer_id == registration(OPEN).lti_consumer_id
    expect(tool.locator(".whoami")).to_have_text(link.edx_user.username)
    assert link.edx_user.username not in {"learner", "learner2", "reviewer"}


# --- the platform's endpoints, without a browser ----------------------------------------

BASE = "http://testserver"


@pytest.fixture
def platform(settings, tmp_path, db) -> Lti13Registration:
    use_demo_settings(settings, BASE, tmp_path / "photos")
    seed_registrations(BASE)
    return registration(REQUIRING)


def assertion(reg: Lti13Registration, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": reg.client_id,
        "sub": reg.client_id,
        "aud": reg.auth_token_url,
        "iat": now,
        "exp": now + 60,
        "jti": f"jti-{now}-{time.monotonic_ns()}",
        **claims,
    }
    return jwt.encode(body, reg.private_key_pem, algorithm="RS256", headers={"kid": reg.key_id})


def ask_token(client, reg: Lti13Registration, token: str, scope: str = SCORE_SCOPE):
    return client.post(
        "/lti/platform13/token",
        {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": token,
            "scope": scope,
        },
    )


def post_score(client, reg: Lti13Registration, bearer: str | None, given: float = 0.5):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {bearer}"} if bearer else {}
    return client.post(
        f"/lti/platform13/lineitems/{reg.pk}/quiz1/scores",
        {
            "userId": "sub-1",
            "scoreGiven": given,
            "scoreMaximum": 1,
            "activityProgress": "Completed",
            "gradingProgress": "FullyGraded",
            "timestamp": "2026-01-01T00:00:00.000+00:00",
        },
        content_type="application/vnd.ims.lis.v1.score+json",
        **headers,
    )


def test_the_token_endpoint_grants_only_the_tools_signed_unused_assertion(client, platform):
    signed = assertion(platform)
    granted = ask_token(client, platform, signed)
    assert granted.status_code == 200, granted.content
    assert granted.json()["token_type"] == "Bearer"
    assert ask_token(client, platform, signed).status_code == 401  # replayed jti
    other = registration(OPEN)
    forged = jwt.encode(
        jwt.decode(signed, options={"verify_signature": False}) | {"jti": "x"},
        other.private_key_pem,  # another tool's key, under this tool's kid
        algorithm="RS256",
        headers={"kid": platform.key_id},
    )
    assert ask_token(client, platform, forged).status_code == 401
    for wrong in ({"aud": "http://elsewhere/"}, {"iss": "someone"}, {"exp": int(time.time()) - 60}):
        assert ask_token(client, platform, assertion(platform, **wrong)).status_code == 401


def test_the_score_endpoint_wants_a_bearer_token_for_its_line_item(client, platform):
    assert post_score(client, platform, None).status_code == 401
    assert post_score(client, platform, "made-up").status_code == 401
    read_only = ask_token(
        client,
        platform,
        assertion(platform),
        scope="https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    ).json()["access_token"]
    assert post_score(client, platform, read_only).status_code == 401
    other_tool = ask_token(client, registration(OPEN), assertion(registration(OPEN))).json()
    assert post_score(client, platform, other_tool["access_token"]).status_code == 401
    assert not cache.get(GRADEBOOK_KEY)

    bearer = ask_token(client, platform, assertion(platform)).json()["access_token"]
    assert post_score(client, platform, bearer, given=0.75).status_code == 204
    [entry] = cache.get(GRADEBOOK_KEY)
    assert (entry["consumer"], entry["learner"], entry["score"], entry["via"]) == (
        REQUIRING,
        "sub-1",
        "0.75",
        "LTI 1.3 / AGS",
    )


def test_the_auth_endpoint_refuses_a_foreign_redirect_or_a_used_hint(client, platform):
    page = client.post(
        "/lti/sandbox/lti13/",
        {
            "registration": platform.pk,
            "sub": "sub-9",
            "send_email": "on",
            "email": "learner@demo.invalid",
            "block": "block-v1:DemoX+Verify101+2026+type@problem+block@quiz1",
            "send_ags": "on",
            "roles": "Learner",
            "target": "_self",
        },
    )
    assert page.status_code == 200
    fields = dict(page.context["fields"])
    assert page.context["login_url"] == BASE + reverse("lti_provider_lti13_login")
    auth = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": platform.client_id,
        "redirect_uri": BASE + reverse("lti_provider_lti13_launch"),
        "state": "state-1",
        "nonce": "nonce-1",
        "login_hint": fields["login_hint"],
        "lti_message_hint": fields["lti_message_hint"],
    }

    def ask(**changes: str):
        return client.get("/lti/platform13/auth?" + urlencode({**auth, **changes}))

    assert ask(redirect_uri="http://evil.example/lti_provider/lti13/launch").status_code == 400
    assert ask(redirect_uri=BASE + "/accounts/login/").status_code == 400
    assert ask(client_id="unknown").status_code == 400
    answer = ask()
    assert answer.status_code == 200
    id_token = dict(answer.context["fields"])["id_token"]
    claims = jwt.decode(id_token, options={"verify_signature": False})
    assert (claims["aud"], claims["sub"]) == (platform.client_id, "sub-9")
    assert claims["nonce"] == "nonce-1"
    assert claims["email"] == "learner@demo.invalid"
    assert ask().status_code == 400  # the message hint is used once
