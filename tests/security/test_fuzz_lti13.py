"""Fuzzing the LTI 1.3 endpoints: id_token shapes, nested JSON, login parameters.

Properties, over the ``ci`` profile's 500 examples each: never a 5xx; a
token that is not a validly signed launch for the login's nonce is refused
with 400/403/404 and writes nothing (no user, identity or spent nonce); the
OIDC login answers a redirect or a 4xx, whatever its parameters.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from lti_provider.models import LtiUser, SpentNonce
from tests.lti_provider.lti13_platform import (  # noqa: F401  (fixtures)
    CLAIM,
    platform_fixture,
    post_launch,
    registration_fixture,
    start_login,
    target_link_uri,
)

pytestmark = pytest.mark.django_db

ISSUER = "https://platform.example.com"
CLIENT_ID = "tool-client-1"

json_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "\x00", ISSUER, CLIENT_ID, "RS256", "none", "HS256", "x" * 300]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), json_text),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=10,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` levels of arrays and objects around ``leaf``, built without recursion."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


nesting = st.integers(min_value=1, max_value=120).map(nested)

headers = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "alg": st.one_of(st.sampled_from(["RS256", "RS512", "none", "HS256"]), json_values),
            "kid": st.one_of(st.just("platform-key"), json_values),
            "typ": json_values,
            "x": nesting,
        },
    ),
)
audiences = st.one_of(
    st.just(CLIENT_ID),
    st.just([]),
    st.lists(st.sampled_from([CLIENT_ID, "other-client", ""]), max_size=3),
    json_values,
)
payloads = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "iss": st.one_of(st.just(ISSUER), json_values),
            "aud": audiences,
        },
        optional={
            "azp": st.one_of(st.sampled_from([CLIENT_ID, "other-client"]), json_values),
            "sub": json_values,
            "nonce": json_values,
            "exp": json_values,
            "iat": json_values,
            "deep": nesting,
            CLAIM + "deployment_id": json_values,
            CLAIM + "message_type": json_values,
            CLAIM + "custom": json_values,
        },
    ),
)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def encoded(value: Any) -> str:
    return b64(json.dumps(value).encode())


tokens = st.one_of(
    st.builds(
        lambda h, p, sig: f"{encoded(h)}.{encoded(p)}.{sig}",
        headers,
        payloads,
        st.one_of(st.just(b64(b"signature")), st.text(max_size=20)),
    ),
    st.text(max_size=80),
    st.lists(st.text(max_size=20), min_size=1, max_size=5).map(".".join),
    st.builds(lambda raw: f"{b64(raw)}.{b64(raw)}.x", st.binary(max_size=40)),
)


def written() -> tuple[int, int, int]:
    return (
        get_user_model().objects.count(),
        LtiUser.objects.count(),
        SpentNonce.objects.count(),
    )


@pytest.fixture
def login_state(platform, registration) -> str:
    """A real login's state (a refused launch does not spend it)."""
    return start_login(Client(), platform)["state"]


@given(token=tokens)
def test_any_id_token_is_refused_with_a_4xx_and_writes_nothing(
    platform, registration, login_state, token
):
    before = written()
    response = post_launch(Client(), token, login_state)
    assert response.status_code in (400, 403, 404), response.status_code
    assert written() == before


@given(claims=payloads, header=headers)
def test_signed_tokens_of_any_shape_never_fail(platform, registration, login_state, claims, header):
    """Signed by the platform's real key: the shapes reach every check after the signature."""
    if not isinstance(claims, dict) or not isinstance(header, dict):
        return
    # JWS over the raw payload: PyJWT's claim checks (iss a string...) are the platform's
    # business, not this attacker's.
    token = jwt.api_jws.encode(
        json.dumps(claims).encode(),
        platform.key.private,
        algorithm="RS256",
        headers={**header, "kid": platform.key.kid, "alg": "RS256"},
    )
    before = written()
    response = post_launch(Client(), token, login_state)
    assert response.status_code in (400, 403, 404), response.status_code
    assert written() == before


login_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "\x00", ISSUER, CLIENT_ID, "deployment-1", "%00", "\u202e"]),
    st.integers(min_value=4000, max_value=5000).map(lambda n: "x" * n),
)


@given(
    params=st.fixed_dictionaries(
        {},
        optional={
            "iss": st.one_of(st.just(ISSUER), login_values),
            "login_hint": login_values,
            "target_link_uri": st.one_of(st.just(target_link_uri()), login_values),
            "client_id": st.one_of(st.just(CLIENT_ID), login_values),
            "lti_deployment_id": login_values,
            "lti_message_hint": login_values,
        },
    ),
    method=st.sampled_from(["get", "post"]),
)
def test_the_login_answers_a_redirect_or_a_4xx_whatever_it_gets(
    platform, registration, settings, params, method
):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "LTI13_LOGIN_RATE": None}
    client = Client()
    send = client.get if method == "get" else client.post
    response = send(reverse("lti_provider_lti13_login"), params, secure=True)
    assert response.status_code in (302, 400, 403), response.status_code
