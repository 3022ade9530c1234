"""Fuzzing the reviewer's results callback: body bytes, JSON shapes, headers, Authorization.

Properties, over the ``ci`` profile's 500 examples each: never a 5xx, and
the database changes only for a correctly signed PASS / FAIL / SYSTEM FAIL
naming an attempt that awaits review.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.factories import SoftwareSecurePhotoVerificationFactory
from tests.security.helpers import (
    post_callback,
    signed_callback_headers,
    snapshot,
)
from verify_student.api import REVIEW_RESULTS
from verify_student.views import JSON_TOO_DEEP, MAX_JSON_DEPTH

pytestmark = pytest.mark.django_db

# Any text JSON can carry, lone surrogates ("\ud800") included.
json_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(categories=["Cs", "Cc", "Lo"]), max_size=10),
    st.sampled_from(["", "\x00", "PASS", "FAIL", "SYSTEM FAIL", "x" * 300]),
)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True),
        json_text,
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=12,
)
header_text = st.one_of(
    st.text(max_size=80),
    st.builds(lambda k, s: f"SSI {k}:{s}", st.text(max_size=25), st.text(max_size=50)),
    st.sampled_from(["", "SSI", "SSI :", "SSI a:b:c", "Bearer x", "ssi BBBBBBBBBBBBBBBBBBBB:x"]),
)


@pytest.fixture
def attempt(db):
    return SoftwareSecurePhotoVerificationFactory(status="submitted")


def callback_bodies(receipt_id: str):
    """JSON objects, some shaped like a real callback for ``receipt_id``."""
    # Mostly the real receipt id and a known result, so the values reach the database.
    shaped = st.fixed_dictionaries(
        {
            "EdX-ID": st.one_of(st.just(receipt_id), st.just(receipt_id), json_values),
            "Result": st.one_of(st.sampled_from(sorted(REVIEW_RESULTS)), json_values),
        },
        optional={"Reason": st.one_of(json_text, json_values), "MessageType": json_text},
    )
    return st.one_of(shaped, shaped, st.dictionaries(json_text, json_values, max_size=6))


@given(
    body=st.binary(max_size=500),
    authorization=header_text,
    date=st.text(max_size=40),
)
def test_any_bytes_with_any_headers_are_refused(attempt, body, authorization, date):
    before = snapshot()
    response = post_callback(Client(), body, HTTP_AUTHORIZATION=authorization, HTTP_DATE=date)
    assert response.status_code == 400
    assert snapshot() == before


@given(data=st.data(), authorization=header_text)
def test_any_json_without_our_signature_is_refused(attempt, data, authorization):
    body = data.draw(st.one_of(json_values, callback_bodies(attempt.receipt_id)))
    before = snapshot()
    raw = json.dumps(body)
    response = post_callback(Client(), raw, HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 400
    assert snapshot() == before


def _signable(body: dict) -> bool:
    try:
        json.dumps(body).encode("utf-8")
        signed_callback_headers(body)
    except UnicodeEncodeError:
        return False  # a lone surrogate: no reviewer can sign it
    return True


@given(data=st.data())
def test_any_signed_json_never_fails_and_only_a_valid_verdict_changes_anything(attempt, data):
    body = data.draw(callback_bodies(attempt.receipt_id))
    assume(_signable(body))
    before = snapshot()
    response = post_callback(Client(), json.dumps(body), **signed_callback_headers(body))
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert snapshot() == before
    else:
        assert body["EdX-ID"] == attempt.receipt_id
        assert body["Result"] in REVIEW_RESULTS


@given(
    mutation=st.sampled_from(["truncate", "substitute", "append", "case"]),
    position=st.integers(min_value=0, max_value=200),
    character=st.characters(exclude_categories=["Zs", "Cc"], exclude_characters="\x85\u2028\u2029"),
)
def test_any_change_to_a_valid_authorization_is_refused(attempt, mutation, position, character):
    body = {"EdX-ID": attempt.receipt_id, "Result": "FAIL", "Reason": "blurry", "MessageType": ""}
    headers = signed_callback_headers(body)
    valid = headers["HTTP_AUTHORIZATION"]
    index = position % len(valid)
    if mutation == "truncate":
        forged = valid[:index]
    elif mutation == "substitute":
        assume(valid[index] != character)
        forged = valid[:index] + character + valid[index + 1 :]
    elif mutation == "append":
        forged = valid + character
    else:
        forged = valid[:index] + valid[index:].swapcase()
    assume(forged.strip() != valid)
    before = snapshot()
    response = post_callback(
        Client(), json.dumps(body), **{**headers, "HTTP_AUTHORIZATION": forged}
    )
    assert response.status_code == 400
    assert snapshot() == before


@pytest.mark.parametrize("field", ["EdX-ID", "Reason", "MessageType"])
def test_a_signed_verdict_carrying_nul_is_400_not_500(attempt, field):
    """Found by the fuzzing on PostgreSQL, whose text columns cannot hold NUL."""
    body = {"EdX-ID": attempt.receipt_id, "Result": "FAIL", "Reason": "r", "MessageType": "m"}
    body[field] += "\x00"
    before = snapshot()
    response = post_callback(Client(), json.dumps(body), **signed_callback_headers(body))
    assert (response.status_code, response.content) == (400, b"NUL characters are not allowed.")
    assert snapshot() == before


def nested(depth: int, leaf: object = "blurry") -> object:
    """``depth`` levels of arrays and objects around ``leaf``, built without recursion."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@given(
    depth=st.integers(min_value=1, max_value=150),
    field=st.sampled_from(["Reason", "EdX-ID", "MessageType", "Extra"]),
    signed=st.booleans(),
)
def test_nested_json_never_fails_and_past_the_limit_is_400(attempt, depth, field, signed):
    """Nesting past MAX_JSON_DEPTH is refused before anything else, signed or not."""
    body: dict = {"EdX-ID": attempt.receipt_id, "Result": "FAIL", "Reason": "", "MessageType": ""}
    body[field] = nested(depth)
    headers = signed_callback_headers(body) if signed else {"HTTP_AUTHORIZATION": "SSI k:s"}
    before = snapshot()
    response = post_callback(Client(), json.dumps(body), **headers)
    assert response.status_code in (200, 400)
    if 1 + depth > MAX_JSON_DEPTH:
        assert response.content == JSON_TOO_DEEP.encode()
        assert snapshot() == before
    elif response.status_code == 200:
        assert signed and field in ("Reason", "MessageType", "Extra")


@given(depth=st.integers(min_value=500, max_value=20_000), opener=st.sampled_from(["[", "{"]))
def test_json_deeper_than_the_parser_can_go_is_400(attempt, depth, opener):
    raw = '{"a":' * depth + "1" + "}" * depth if opener == "{" else "[" * depth + "]" * depth
    before = snapshot()
    response = post_callback(Client(), raw, HTTP_AUTHORIZATION="SSI k:s")
    assert (response.status_code, response.content) == (400, JSON_TOO_DEEP.encode())
    assert snapshot() == before
