"""Hostile id_token shapes get the documented 403, never a 5xx; ``azp`` is checked.

Unsigned tokens whose header or payload is not a JSON object, or whose
``aud`` is empty, nested past the depth limit, or typed wrongly, are refused
before anything is looked up. A token for several audiences must name us in
``azp`` (OIDC Core 3.1.3.7, LTI Security Framework 5.1.3), and an ``azp``
that is present must be our client id.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from lti_provider.models import LtiUser, SpentNonce
from tests.lti_provider.lti13_platform import (  # noqa: F401  (fixtures)
    CLAIM,
    login_and_launch,
    platform_fixture,
    post_launch,
    registration_fixture,
    start_login,
    target_link_uri,
)

pytestmark = pytest.mark.django_db


def b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(header: Any, payload: Any) -> str:
    return f"{b64(header)}.{b64(payload)}.{b64(b'not-a-signature')}"


def nothing_written(users_before: int) -> bool:
    return (
        get_user_model().objects.count() == users_before
        and not LtiUser.objects.exists()
        and not SpentNonce.objects.exists()
    )


def claims(platform, **overrides: Any) -> dict[str, Any]:
    body = {
        "iss": platform.issuer,
        "aud": platform.client_id,
        "sub": "s",
        "nonce": "n",
        "iat": 1,
        "exp": 2,
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    "header",
    [[1, 2], "RS256", 7, None, True, [], {"alg": ["RS256"], "kid": {"k": 1}}],
    ids=repr,
)
def test_a_header_that_is_not_an_object_is_403(client, platform, registration, header):
    users = get_user_model().objects.count()
    token = unsigned(header, claims(platform))
    response = post_launch(client, token, start_login(client, platform)["state"])
    assert response.status_code == 403
    assert nothing_written(users)


@pytest.mark.parametrize("payload", [[1, 2], "claims", 3, None, [], [{"iss": "x"}]], ids=repr)
def test_a_payload_that_is_not_an_object_is_403(client, platform, registration, payload):
    users = get_user_model().objects.count()
    token = unsigned({"alg": "RS256", "kid": platform.key.kid}, payload)
    response = post_launch(client, token, start_login(client, platform)["state"])
    assert response.status_code == 403
    assert nothing_written(users)


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": []},
        {"aud": ""},
        {"aud": [""]},
        {"aud": [None]},
        {"aud": {"client": 1}},
        {"aud": 42},
        {"iss": ["https://platform.example.com"]},
        {"iss": {"a": 1}},
        {"iss": 7},
        {"iss": "https://platform.example.com\x00"},
        {"aud": "tool-client-1\x00"},
        {"azp": "\x00"},
        {"azp": ["tool-client-1"]},
        {"azp": 3},
    ],
    ids=repr,
)
def test_badly_typed_claims_are_403(client, platform, registration, overrides):
    users = get_user_model().objects.count()
    token = unsigned({"alg": "RS256", "kid": platform.key.kid}, claims(platform, **overrides))
    response = post_launch(client, token, start_login(client, platform)["state"])
    assert response.status_code == 403
    assert nothing_written(users)


def test_a_signed_token_with_an_empty_audience_is_403(client, platform, registration):
    auth = start_login(client, platform)
    token = platform.id_token(nonce=auth["nonce"], aud=[])
    assert post_launch(client, token, auth["state"]).status_code == 403


@pytest.mark.parametrize("depth", [40, 5_000, 200_000])
def test_a_payload_nested_past_the_limit_is_403(client, platform, registration, depth):
    users = get_user_model().objects.count()
    nested = "[" * depth + "]" * depth
    payload = json.dumps(claims(platform))[:-1] + f', "deep": {nested}}}'
    token = unsigned({"alg": "RS256", "kid": platform.key.kid}, payload.encode())
    response = post_launch(client, token, start_login(client, platform)["state"])
    assert response.status_code == 403
    assert nothing_written(users)


def test_a_header_nested_past_the_limit_is_403(client, platform, registration):
    header = '{"alg": "RS256", "x": ' + "{" * 50 + '"a": 1' + "}" * 50 + "}"
    token = unsigned(header.encode(), claims(platform))
    assert post_launch(client, token, "state").status_code == 403


def test_claims_nested_within_the_limit_launch(client, platform, registration):
    custom = {"course_id": "ignored"}
    for _ in range(10):
        custom = {"inner": custom}
    assert login_and_launch(client, platform, **{CLAIM + "custom": custom}).status_code == 200


# --- azp ------------------------------------------------------------------------------------


def test_several_audiences_and_our_azp_launch(client, platform, registration):
    response = login_and_launch(
        client, platform, aud=[platform.client_id, "another-client"], azp=platform.client_id
    )
    assert response.status_code == 200


def test_several_audiences_and_a_foreign_azp_are_refused(client, platform, registration):
    users = get_user_model().objects.count()
    response = login_and_launch(
        client, platform, aud=[platform.client_id, "another-client"], azp="another-client"
    )
    assert response.status_code == 403
    assert nothing_written(users)


def test_several_audiences_without_azp_are_refused(client, platform, registration):
    users = get_user_model().objects.count()
    response = login_and_launch(client, platform, aud=[platform.client_id, "another-client"])
    assert response.status_code == 403
    assert nothing_written(users)


def test_an_azp_that_is_not_an_audience_is_refused(client, platform, registration):
    response = login_and_launch(
        client, platform, aud=[platform.client_id, "another-client"], azp="third-client"
    )
    assert response.status_code == 403


def test_one_audience_and_a_foreign_azp_are_refused(client, platform, registration):
    response = login_and_launch(client, platform, aud=platform.client_id, azp="another-client")
    assert response.status_code == 403


def test_one_audience_and_our_azp_launch(client, platform, registration):
    response = login_and_launch(client, platform, aud=[platform.client_id], azp=platform.client_id)
    assert response.status_code == 200
