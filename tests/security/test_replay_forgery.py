"""Replay and forgery: a launch or a verdict changed in any way is refused and changes nothing.

Already proven elsewhere (not repeated here): a tampered parameter, another
URL, an http URL for an https signature, a wrong secret and an unknown key at
the validator (tests/lti_provider/test_signature_validator.py); a wrong
access key or secret, a malformed Authorization, a body changed after
signing and a truncated signature at the callback
(tests/verify_student/test_results_callback.py).
"""

from __future__ import annotations

import hmac
import json
import string
from urllib.parse import urlencode

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st
from oauthlib.oauth1.rfc5849 import signature as oauth_signature

from tests.factories import SoftwareSecurePhotoVerificationFactory
from tests.security.helpers import (
    ACCESS_KEY,
    SECRET_KEY,
    items,
    launch_params,
    launch_path,
    now,
    post_callback,
    post_launch,
    post_signed_callback,
    replace_item,
    sign_launch,
    signed_callback_headers,
    snapshot,
)
from verify_student import ssencrypt

pytestmark = pytest.mark.django_db

# -- launches ------------------------------------------------------------------------------

lti_values = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=60
).filter(str.strip)


@given(
    user_id=lti_values,
    extra=st.dictionaries(
        st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12).map(
            lambda name: f"custom_{name}"
        ),
        lti_values,
        max_size=3,
    ),
)
def test_every_valid_launch_replayed_is_refused(consumer, user_id, extra):
    body = sign_launch(consumer, launch_params(user_id=user_id, **extra))
    assert post_launch(body).status_code == 200
    after_first = snapshot()
    replay = post_launch(body)
    assert replay.status_code == 403
    assert snapshot() == after_first


def _moved_timestamp(consumer) -> str:
    body = sign_launch(consumer)
    timestamp = dict(items(body))["oauth_timestamp"]
    return replace_item(body, "oauth_timestamp", str(int(timestamp) - 1))


FORGERIES = {
    "timestamp moved by one second": lambda c: (_moved_timestamp(c), None),
    "a parameter added": lambda c: (sign_launch(c) + "&custom_grade=100", None),
    "a parameter removed": lambda c: (
        urlencode(
            [
                (k, v)
                for k, v in items(sign_launch(c, launch_params(custom_role="x")))
                if k != "custom_role"
            ]
        ),
        None,
    ),
    "a value changed": lambda c: (replace_item(sign_launch(c), "roles", "Administrator"), None),
    "another block": lambda c: (
        sign_launch(c),
        launch_path(usage_id="block-v1:Org+Course+Run+type@problem+block@p2"),
    ),
    "another course": lambda c: (
        sign_launch(c),
        launch_path("course-v1:Org+Other+Run", "block-v1:Org+Other+Run+type@problem+block@p1"),
    ),
    "a query added to the URL": lambda c: (sign_launch(c), launch_path() + "?admin=1"),
    "signed for another host": lambda c: (sign_launch(c, host="evil.example.com"), None),
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_launch_is_refused_and_changes_nothing(consumer, forgery):
    body, path = FORGERIES[forgery](consumer)
    before = snapshot()
    response = post_launch(body, path)
    assert response.status_code == 403, forgery
    assert snapshot() == before


def test_the_consumer_key_swapped_for_another_consumers_is_refused(consumer, other_consumer):
    body = replace_item(sign_launch(consumer), "oauth_consumer_key", other_consumer.consumer_key)
    before = snapshot()
    assert post_launch(body).status_code == 403
    assert snapshot() == before


def test_a_launch_signed_with_another_consumers_secret_is_refused(consumer, other_consumer):
    body = sign_launch(consumer, secret=other_consumer.consumer_secret)
    assert post_launch(body).status_code == 403


def test_a_replay_within_the_window_from_another_client_is_refused(consumer):
    body = sign_launch(consumer)
    responses = [post_launch(body, client=Client()).status_code for _ in range(3)]
    assert responses == [200, 403, 403]


def test_a_new_nonce_on_a_captured_launch_is_refused(consumer):
    """An attacker who replays with a fresh nonce breaks the signature."""
    body = sign_launch(consumer)
    assert post_launch(body).status_code == 200
    assert post_launch(replace_item(body, "oauth_nonce", "fresh-nonce-123")).status_code == 403


def test_a_replay_with_a_fresh_timestamp_is_refused(consumer):
    body = sign_launch(consumer)
    assert post_launch(body).status_code == 200
    assert post_launch(replace_item(body, "oauth_timestamp", str(now()))).status_code == 403


# -- results callbacks -----------------------------------------------------------------------


@pytest.fixture
def attempt(db):
    return SoftwareSecurePhotoVerificationFactory(status="submitted")


def body_for(attempt, result="PASS"):
    return {"EdX-ID": attempt.receipt_id, "Result": result, "Reason": "", "MessageType": ""}


def test_a_forged_signature_of_the_right_shape_changes_nothing(attempt):
    body = body_for(attempt)
    headers = signed_callback_headers(body)
    forged_signature = ssencrypt.generate_signature("guessed-secret", "anything")
    headers["HTTP_AUTHORIZATION"] = f"SSI {ACCESS_KEY}:{forged_signature}"
    before = snapshot()
    assert post_callback(Client(), json.dumps(body), **headers).status_code == 400
    assert snapshot() == before


def test_another_verdicts_signature_does_not_sign_this_one(attempt):
    other = SoftwareSecurePhotoVerificationFactory(status="submitted")
    headers = signed_callback_headers(body_for(other))
    before = snapshot()
    assert post_callback(Client(), json.dumps(body_for(attempt)), **headers).status_code == 400
    assert snapshot() == before


def test_the_date_changed_after_signing_is_refused(attempt):
    body = body_for(attempt)
    headers = signed_callback_headers(body)
    headers["HTTP_DATE"] = "Thu, 01 Jan 2037 00:00:00 GMT"
    before = snapshot()
    assert post_callback(Client(), json.dumps(body), **headers).status_code == 400
    assert snapshot() == before


def test_a_verdict_signed_for_another_access_key_is_refused(attempt):
    before = snapshot()
    response = post_signed_callback(Client(), body_for(attempt), access_key="ANOTHER-ACCESS-KEY")
    assert response.status_code == 400
    assert snapshot() == before


def test_a_key_added_to_the_body_after_signing_is_refused(attempt):
    body = body_for(attempt, "FAIL")
    headers = signed_callback_headers(body)
    body["Result"] = "PASS"
    body["Extra"] = "x"
    assert post_callback(Client(), json.dumps(body), **headers).status_code == 400
    attempt.refresh_from_db()
    assert attempt.status == "submitted"


# -- constant-time comparisons ---------------------------------------------------------------


def test_the_callback_compares_key_and_signature_with_hmac_compare_digest(monkeypatch, attempt):
    """Fails if anyone swaps ``hmac.compare_digest`` for ``==`` (or skips a comparison)."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    checked = []
    real_check = ssencrypt.has_valid_signature

    def check_spy(*args, **kwargs):
        checked.append(args)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    monkeypatch.setattr(ssencrypt, "has_valid_signature", check_spy)
    body = body_for(attempt)
    headers = signed_callback_headers(body)
    sent_signature = headers["HTTP_AUTHORIZATION"].rsplit(":", 1)[1].encode()
    forged = headers["HTTP_AUTHORIZATION"][:-2] + (
        "A=" if headers["HTTP_AUTHORIZATION"][-2] != "A" else "B="
    )

    assert post_callback(Client(), json.dumps(body), **headers).status_code == 200
    assert len(checked) == 1
    assert (ACCESS_KEY.encode(), ACCESS_KEY.encode()) in compared
    assert any(sent_signature in pair for pair in compared)

    compared.clear()
    headers["HTTP_AUTHORIZATION"] = forged
    assert post_callback(Client(), json.dumps(body), **headers).status_code == 400
    assert any(forged.rsplit(":", 1)[1].encode() in pair for pair in compared)


def test_has_valid_signature_compares_in_constant_time(monkeypatch):
    calls = []
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or True)
    headers = {"Date": "d", "Authorization": "SSI k:not-the-signature"}
    # With a comparison that always agrees, a wrong signature passes: proof that
    # compare_digest, and nothing else, decides.
    assert ssencrypt.has_valid_signature("POST", headers, {"a": 1}, "k", SECRET_KEY)
    assert len(calls) == 2


def test_the_launch_signature_is_compared_by_oauthlibs_safe_string_equals(monkeypatch, consumer):
    compared: list[tuple[str, str]] = []
    real = oauth_signature.safe_string_equals

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(oauth_signature, "safe_string_equals", spy)
    body = sign_launch(consumer)
    sent = dict(items(body))["oauth_signature"]
    assert post_launch(body).status_code == 200
    assert len(compared) == 1
    assert sent in compared[0]

    compared.clear()
    wrong = sign_launch(consumer, secret="consumer-secret-wrong")
    assert post_launch(wrong).status_code == 403
    assert dict(items(wrong))["oauth_signature"] in compared[0]


def test_safe_string_equals_alone_decides_the_launch_signature(monkeypatch, consumer):
    """With a comparison that always agrees, a wrong signature is accepted: it alone decides."""
    monkeypatch.setattr(oauth_signature, "safe_string_equals", lambda a, b: True)
    assert post_launch(sign_launch(consumer, secret="consumer-secret-wrong")).status_code == 200
