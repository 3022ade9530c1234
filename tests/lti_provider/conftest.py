"""Fixtures for the launch and users suites.

Launches are signed by oauthlib's *client* (an independent implementation of
OAuth1 request signing), never by the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY, Client

from tests.factories import LtiConsumerFactory
from tests.settings import TEST_DATA

COURSE_ID = "course-v1:Org+Course+Run"
USAGE_ID = "block-v1:Org+Course+Run+type@problem+block@p1"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def launch_vector() -> dict:
    return json.loads((TEST_DATA / "lti_launch.json").read_text())["launches"][0]


def launch_path(course_id: str = COURSE_ID, usage_id: str = USAGE_ID) -> str:
    return reverse("lti_provider_launch", args=[course_id, usage_id])


def base_params(**overrides: str | None) -> dict[str, str]:
    params = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": "resource-1",
        "context_id": "context-1",
        "user_id": "lti-learner-1",
        "roles": "Learner",
    }
    params.update(overrides)  # type: ignore[arg-type]
    return {k: v for k, v in params.items() if v is not None}


def sign(
    url: str,
    params: dict[str, str],
    key: str,
    secret: str,
    **client_kwargs,
) -> str:
    """The urlencoded body oauthlib's client signs for a POST to ``url``."""
    client = Client(
        key,
        client_secret=secret,
        signature_type=SIGNATURE_TYPE_BODY,
        signature_method=client_kwargs.pop("signature_method", SIGNATURE_HMAC_SHA1),
        **client_kwargs,
    )
    _uri, _headers, body = client.sign(
        url, http_method="POST", body=urlencode(params), headers={"Content-Type": FORM}
    )
    return body


@pytest.fixture
def consumer(db):
    return LtiConsumerFactory(consumer_key="consumer-key", consumer_secret="consumer-secret")


@pytest.fixture
def signed_launch(consumer) -> Callable[..., str]:
    """``signed_launch(path=..., key=..., secret=..., **params)`` -> a signed body."""

    def make(
        path: str | None = None,
        *,
        host: str = "testserver",
        scheme: str = "https",
        key: str | None = None,
        secret: str | None = None,
        client_kwargs: dict | None = None,
        **params: str | None,
    ) -> str:
        url = f"{scheme}://{host}{path or launch_path()}"
        return sign(
            url,
            base_params(**params),
            key or consumer.consumer_key,
            secret or consumer.consumer_secret,
            **(client_kwargs or {}),
        )

    return make


@pytest.fixture
def post_launch(client, signed_launch) -> Callable[..., object]:
    """Sign a launch for the https URL of ``path`` and POST it with the test client."""

    def post(path: str | None = None, *, http_client=None, **kwargs):
        path = path or launch_path()
        body = signed_launch(path, **kwargs)
        return (http_client or client).post(path, body, content_type=FORM, secure=True)

    return post
