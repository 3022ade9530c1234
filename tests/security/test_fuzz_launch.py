"""Fuzzing the LTI 1.1 launch: parameters, encodings and signature fields.

Properties, over the ``ci`` profile's 500 examples each: no request is ever
answered 5xx, and a launch that is not answered with the content (200) or
the login redirect (302) leaves every table as it was.
"""

from __future__ import annotations

import string
from urllib.parse import quote, urlencode

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lti_provider.launch import REQUIRED_PARAMETERS
from tests.security.helpers import (
    FORM,
    launch_params,
    launch_path,
    post_launch,
    sign_launch,
    snapshot,
)

pytestmark = pytest.mark.django_db

OAUTH_FIELDS = (
    "oauth_consumer_key",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_nonce",
    "oauth_timestamp",
    "oauth_version",
)
OPTIONAL_FIELDS = (
    "lis_person_contact_email_primary",
    "lis_result_sourcedid",
    "lis_outcome_service_url",
    "tool_consumer_instance_guid",
    "custom_username",
    "lis_person_sourcedid",
    "ext_user_username",
    "launch_presentation_return_url",
    "next",
)

# Text a consumer (or an attacker) can put in a form value: any code point a
# urlencoded UTF-8 body can carry, NUL and control characters included,
# lengths around the 255-character columns.
values = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=250, max_size=300),
    st.sampled_from(["", " ", "\x00", "a\x00b", "%00", "é", "\u202e", "😀" * 70, "x" * 256]),
)
names = st.one_of(
    st.sampled_from(REQUIRED_PARAMETERS + OPTIONAL_FIELDS), st.text(min_size=1, max_size=20)
)


def assert_refused_without_change(response, before) -> None:
    assert response.status_code < 500
    if response.status_code not in (200, 302):
        assert snapshot() == before


@given(form=st.lists(st.tuples(names, values), max_size=20))
def test_unsigned_forms_are_refused_and_change_nothing(consumer, form):
    # Unsigned: not even a nonce is spent.
    before = snapshot(exclude=())
    response = post_launch(urlencode(form))
    assert response.status_code in (400, 403, 404)
    assert snapshot(exclude=()) == before


@given(
    overrides=st.dictionaries(
        st.sampled_from(["user_id", "roles", "context_id", "resource_link_id", *OPTIONAL_FIELDS]),
        values,
        max_size=6,
    ),
    extra=st.lists(st.tuples(st.text(min_size=1, max_size=15), values), max_size=4),
)
def test_signed_launches_with_any_values_never_fail(consumer, overrides, extra):
    """Whatever a (real) consumer signs: content, a login redirect or a 4xx; never a 5xx."""
    params = list(launch_params(**overrides).items()) + [
        (name, value) for name, value in extra if not name.startswith("oauth_")
    ]
    before = snapshot()
    response = post_launch(sign_launch(consumer, params))
    assert_refused_without_change(response, before)


@given(
    field=st.sampled_from(OAUTH_FIELDS),
    action=st.sampled_from(["replace", "drop", "duplicate"]),
    value=values,
)
def test_a_changed_signature_field_is_refused(consumer, field, action, value):
    body = sign_launch(consumer, launch_params(user_id="fuzzed-learner"))
    pairs = [tuple(pair.split("=", 1)) for pair in body.split("&")]
    original = dict(pairs)[field]
    if action == "replace":
        assume(quote(value, safe="") != original and value.strip() != "")
        pairs = [(k, quote(value, safe="") if k == field else v) for k, v in pairs]
    elif action == "drop":
        pairs = [(k, v) for k, v in pairs if k != field]
    else:
        pairs.append((field, quote(value, safe="")))
    # Unsigned: not even a nonce is spent.
    before = snapshot(exclude=())
    response = post_launch("&".join(f"{k}={v}" for k, v in pairs))
    assert response.status_code in (400, 403)
    assert snapshot(exclude=()) == before


CONTENT_TYPES = [
    FORM,
    f"{FORM}; charset=utf-8",
    f"{FORM}; charset=latin-1",
    f"{FORM}; charset=utf-16",
    f"{FORM}; charset=no-such-charset",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",
    "application/json",
    "text/plain",
    "",
]
percent_bytes = st.binary(max_size=60).map(lambda raw: quote(raw, safe=""))


@given(
    content_type=st.sampled_from(CONTENT_TYPES),
    body=st.one_of(
        st.binary(max_size=400),
        st.lists(st.tuples(names, percent_bytes), max_size=15).map(
            lambda pairs: "&".join(f"{quote(k)}={v}" for k, v in pairs).encode("ascii")
        ),
    ),
    course_id=st.one_of(st.just("course-v1:Org+Course+Run"), st.text(min_size=1, max_size=40)),
    usage_id=st.one_of(
        st.just("block-v1:Org+Course+Run+type@problem+block@p1"), st.text(min_size=1, max_size=40)
    ),
)
def test_any_bytes_encoding_or_url_is_refused_and_changes_nothing(
    consumer, content_type, body, course_id, usage_id
):
    path = "/lti_provider/courses/{}/{}".format(quote(course_id, safe=""), quote(usage_id, safe=""))
    # Unsigned: not even a nonce is spent.
    before = snapshot(exclude=())
    response = post_launch(body, path, content_type=content_type)
    assert response.status_code in (400, 403, 404)
    assert snapshot(exclude=()) == before


@given(
    course_id=st.text(alphabet=string.printable, min_size=1, max_size=60),
    usage_id=st.text(alphabet=string.printable, min_size=1, max_size=60),
)
def test_signed_launches_to_any_keys_never_fail(consumer, course_id, usage_id):
    """The URL's keys are parsed after the signature: bad keys are 404, never 5xx."""
    assume("/" not in course_id and "/" not in usage_id)
    path = launch_path(course_id, usage_id)
    before = snapshot()
    response = post_launch(sign_launch(consumer, path=path), path)
    assert_refused_without_change(response, before)


# -- what the fuzzing found (PostgreSQL answered 500) -----------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"user_id": "a\x00b"},
        {"lis_result_sourcedid": "src\x00"},
        {"user_id": "u" * 256},
        {"tool_consumer_instance_guid": "g" * 256},
    ],
)
def test_values_the_database_cannot_store_are_400(consumer, overrides):
    before = snapshot()
    response = post_launch(sign_launch(consumer, launch_params(**overrides)))
    assert response.status_code == 400
    assert snapshot() == before


def test_a_user_id_of_255_characters_is_fine(consumer):
    response = post_launch(sign_launch(consumer, launch_params(user_id="u" * 255)))
    assert response.status_code == 200


def test_a_consumer_key_that_unescapes_to_nul_is_403(consumer):
    body = sign_launch(consumer, key="%00")
    before = snapshot()
    assert post_launch(body).status_code == 403
    assert snapshot() == before
