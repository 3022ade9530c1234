"""Signing as the peers do (oauthlib's client, the reviewer's HMAC) and table snapshots."""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.apps import apps
from django.contrib.sessions.models import Session
from django.test import Client
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY
from oauthlib.oauth1 import Client as OAuthClient

from tests.lti_provider.conftest import (  # noqa: F401  (re-exported for the tests)
    COURSE_ID,
    FORM,
    USAGE_ID,
    base_params,
    launch_path,
)
from verify_student import ssencrypt

CALLBACK_URL = "/verify_student/results_callback"
# tests/settings.py's review-service keys.
ACCESS_KEY = "BBBBBBBBBBBBBBBBBBBB"
SECRET_KEY = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"


# The launch helpers of the lti_provider suite, under this module's names.
launch_params = base_params


def sign_launch(
    consumer: Any,
    params: dict[str, str] | list[tuple[str, str]] | None = None,
    *,
    path: str | None = None,
    host: str = "testserver",
    key: str | None = None,
    secret: str | None = None,
    **client_kwargs: Any,
) -> str:
    """The urlencoded body oauthlib's *client* signs for an https POST to ``path``."""
    client = OAuthClient(
        key or consumer.consumer_key,
        client_secret=secret or consumer.consumer_secret,
        signature_type=SIGNATURE_TYPE_BODY,
        signature_method=client_kwargs.pop("signature_method", SIGNATURE_HMAC_SHA1),
        **client_kwargs,
    )
    body = urlencode(launch_params() if params is None else params)
    _uri, _headers, signed = client.sign(
        f"https://{host}{path or launch_path()}",
        http_method="POST",
        body=body,
        headers={"Content-Type": FORM},
    )
    return signed


def post_launch(body: str | bytes, path: str | None = None, client: Client | None = None, **extra):
    """POST ``body`` as sent, byte for byte (the test client re-encodes nothing)."""
    content_type = extra.pop("content_type", FORM)
    return (client or Client()).generic(
        "POST", path or launch_path(), body, content_type=content_type, secure=True, **extra
    )


def items(body: str) -> list[tuple[str, str]]:
    return parse_qsl(body, keep_blank_values=True)


def replace_item(body: str, name: str, value: str) -> str:
    return urlencode([(k, value if k == name else v) for k, v in items(body)])


def now() -> int:
    return int(time.time())


# -- the reviewer's callback --------------------------------------------------------------


def signed_callback_headers(
    body: dict[str, Any], *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY
) -> dict[str, str]:
    """Django test-client headers for a callback signed as the reviewer signs it."""
    date = formatdate(usegmt=True)
    _m, _s, authorization = ssencrypt.generate_signed_message(
        "POST", {"Date": date}, body, access_key, secret_key
    )
    return {"HTTP_DATE": date, "HTTP_AUTHORIZATION": authorization}


def post_callback(client: Client, data: bytes | str, **headers: str):
    return client.post(CALLBACK_URL, data=data, content_type="application/json", **headers)


def post_signed_callback(client: Client, body: dict[str, Any], **sign_kwargs: str):
    headers = signed_callback_headers(body, **sign_kwargs)
    return post_callback(client, json.dumps(body), **headers)


# -- database snapshots ---------------------------------------------------------------------

_APPS = ("auth", "lti_provider", "verify_student", "sessions")


#: The launches' replay memory: a signed launch spends its nonce even when it is refused
#: later (bad keys, a login needed), by design. Tests check it on their own (an unsigned
#: request writes nothing there), so ``snapshot`` leaves it out by default. (A callback's
#: memory is written only with its verdict, so it stays in.)
REPLAY_MEMORIES = ("lti_provider.SpentNonce",)


def snapshot(exclude: tuple[str, ...] = REPLAY_MEMORIES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the apps' tables, the users' and the sessions', in primary-key order.

    ``last_login`` is left out: logging in an account a launch is entitled to
    is checked by the tests themselves; so are the ``exclude``d models
    (``app.Model``, the replay memories by default).
    """
    state: dict[str, list[tuple[Any, ...]]] = {}
    for model in apps.get_models():
        if model._meta.app_label not in _APPS or model is Session:
            continue
        if model._meta.label in exclude:
            continue
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "last_login"]
        state[model._meta.label] = list(model._default_manager.order_by("pk").values_list(*fields))
    state["sessions"] = list(Session.objects.order_by("pk").values_list("pk", "session_data"))
    return state
