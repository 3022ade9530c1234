"""OAuth1 verification: oauthlib's client signs, our validator must agree (or refuse)."""

from __future__ import annotations

import base64
import datetime as dt
import time
from unittest import mock
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.core.cache import caches
from django.db import OperationalError
from django.test import override_settings
from django.utils import timezone
from freezegun import freeze_time
from oauthlib.oauth1 import SIGNATURE_PLAINTEXT, SIGNATURE_RSA_SHA1
from oauthlib.oauth1.rfc5849 import signature as oauth_signature

from lti_provider import signature_validator
from lti_provider.exceptions import (
    InvalidSignature,
    ReplayedNonce,
    StaleTimestamp,
    UnknownConsumer,
    UnsupportedSignatureMethod,
)
from lti_provider.models import SpentNonce
from lti_provider.signature_validator import (
    DUMMY_CLIENT_KEY,
    LtiRequestValidator,
    consume_nonce,
    nonce_key,
    timestamp_in_window,
    verify_launch_signature,
)
from tests.lti_provider.conftest import base_params, sign
from tests.settings import TEST_DATA

URL = "https://lms.example.com/lti_provider/courses/c/u"
VECTOR_TIME = "2023-11-14 22:13:20"  # 1700000000


def items(body: str) -> list[tuple[str, str]]:
    return parse_qsl(body, keep_blank_values=True)


def signed(consumer, url: str = URL, **client_kwargs) -> list[tuple[str, str]]:
    body = sign(
        url, base_params(), consumer.consumer_key, consumer.consumer_secret, **client_kwargs
    )
    return items(body)


def test_the_known_answer_vector_validates(db, launch_vector):
    from tests.factories import LtiConsumerFactory

    vector_consumer = LtiConsumerFactory(
        consumer_key=launch_vector["consumer_key"],
        consumer_secret=launch_vector["consumer_secret"],
    )
    with freeze_time(VECTOR_TIME):
        got = verify_launch_signature(
            launch_vector["url"], list(launch_vector["signed_params"].items())
        )
    assert got == vector_consumer


def test_a_fresh_launch_validates_and_returns_its_consumer(consumer):
    assert verify_launch_signature(URL, signed(consumer)) == consumer


def test_a_replayed_launch_is_refused(consumer):
    params = signed(consumer)
    verify_launch_signature(URL, params)
    with pytest.raises(ReplayedNonce):
        verify_launch_signature(URL, params)


def test_a_tampered_parameter_is_refused(consumer):
    params = [(k, "Instructor" if k == "roles" else v) for k, v in signed(consumer)]
    with pytest.raises(InvalidSignature):
        verify_launch_signature(URL, params)


def test_another_url_is_refused(consumer):
    with pytest.raises(InvalidSignature):
        verify_launch_signature(URL.replace("/u", "/other"), signed(consumer))


def test_an_http_url_does_not_match_a_signature_made_for_https(consumer):
    with pytest.raises(InvalidSignature):
        verify_launch_signature(URL.replace("https:", "http:"), signed(consumer))


def test_a_wrong_secret_is_refused(consumer):
    body = sign(URL, base_params(), consumer.consumer_key, "not-the-secret")
    with pytest.raises(InvalidSignature):
        verify_launch_signature(URL, items(body))


def test_an_unknown_key_is_refused(consumer):
    body = sign(URL, base_params(), "who-is-this", consumer.consumer_secret)
    with pytest.raises(UnknownConsumer):
        verify_launch_signature(URL, items(body))


def test_an_unknown_key_is_checked_against_the_dummy_secret(consumer):
    """The signature is computed even for unknown keys, so timing tells nothing."""
    body = sign(URL, base_params(), "who-is-this", "x")
    with (
        mock.patch.object(
            LtiRequestValidator,
            "get_client_secret",
            autospec=True,
            side_effect=LtiRequestValidator.get_client_secret,
        ) as get_secret,
        pytest.raises(UnknownConsumer),
    ):
        verify_launch_signature(URL, items(body))
    (_self, client_key, _request) = get_secret.call_args.args
    assert client_key == DUMMY_CLIENT_KEY


def test_the_dummy_secret_is_never_a_consumers():
    validator = LtiRequestValidator()
    assert validator.get_client_secret(DUMMY_CLIENT_KEY, None) == (
        signature_validator._DUMMY_SECRET
    )


def test_malformed_oauth_parameters_are_refused(consumer):
    params = signed(consumer)
    params.append(("oauth_nonce", "a-second-nonce"))  # duplicated protocol parameter
    with pytest.raises(InvalidSignature):
        verify_launch_signature(URL, params)


def test_an_oauth_version_other_than_1_0_is_refused(consumer):
    params = [(k, "2.0" if k == "oauth_version" else v) for k, v in signed(consumer)]
    with pytest.raises(InvalidSignature):
        verify_launch_signature(URL, params)


def rsa_sha1_signed(consumer) -> list[tuple[str, str]]:
    """A launch really signed RSA-SHA1 (oauthlib's base string, cryptography's RSA)."""
    params = [
        *base_params().items(),
        ("oauth_consumer_key", consumer.consumer_key),
        ("oauth_nonce", "rsa-nonce"),
        ("oauth_timestamp", str(int(time.time()))),
        ("oauth_version", "1.0"),
        ("oauth_signature_method", SIGNATURE_RSA_SHA1),
    ]
    base = oauth_signature.signature_base_string(
        "POST",
        oauth_signature.base_string_uri(URL),
        oauth_signature.normalize_parameters(params),
    )
    key = serialization.load_pem_private_key(
        (TEST_DATA / "rsa_test_private.pem").read_bytes(), password=None
    )
    raw = key.sign(base.encode(), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    return [*params, ("oauth_signature", base64.b64encode(raw).decode())]


@pytest.mark.parametrize("method", [SIGNATURE_PLAINTEXT, "HMAC-SHA256"])
def test_only_hmac_sha1_is_accepted(consumer, method):
    params = signed(consumer, signature_method=method)
    assert ("oauth_signature_method", method) in params
    with pytest.raises(UnsupportedSignatureMethod):
        verify_launch_signature(URL, params)


def test_rsa_sha1_is_refused(consumer):
    with pytest.raises(UnsupportedSignatureMethod):
        verify_launch_signature(URL, rsa_sha1_signed(consumer))


def test_the_endpoint_itself_refuses_other_methods():
    """Defence in depth: oauthlib is told HMAC-SHA1 only, too."""
    assert LtiRequestValidator().allowed_signature_methods == ("HMAC-SHA1",)


@pytest.mark.parametrize("offset", [-301, 301, -600, 10 * 365 * 24 * 3600])
def test_a_timestamp_outside_the_window_is_refused(consumer, offset):
    params = signed(consumer, timestamp=str(int(time.time()) + offset))
    with pytest.raises(StaleTimestamp):
        verify_launch_signature(URL, params)


@pytest.mark.parametrize("offset", [-299, 299])
def test_a_timestamp_inside_the_window_is_accepted(consumer, offset):
    with freeze_time("2024-01-01 12:00:00"):
        params = signed(consumer, timestamp=str(int(time.time()) + offset))
        assert verify_launch_signature(URL, params) == consumer


@override_settings(LTI_NONCE_WINDOW_SECONDS=30)
def test_the_window_follows_the_setting(consumer):
    params = signed(consumer, timestamp=str(int(time.time()) - 60))
    with pytest.raises(StaleTimestamp):
        verify_launch_signature(URL, params)


def test_the_clock_moving_between_the_checks_is_still_stale(consumer):
    with freeze_time("2024-01-01 12:00:00") as frozen:
        params = signed(consumer)

        def slow_check(nonce):
            frozen.tick(1000)  # the window closes while oauthlib is checking
            return True

        with (
            mock.patch.object(LtiRequestValidator, "check_nonce", side_effect=slow_check),
            pytest.raises(StaleTimestamp),
        ):
            verify_launch_signature(URL, params)


@pytest.mark.parametrize("value", ["", "soon", "12.5", None])
def test_a_timestamp_that_is_not_an_integer_is_outside_the_window(value):
    assert not timestamp_in_window(value)


def test_a_refused_signature_does_not_spend_the_nonce(consumer):
    params = signed(consumer)
    tampered = [(k, "Instructor" if k == "roles" else v) for k, v in params]
    with pytest.raises(InvalidSignature):
        verify_launch_signature(URL, tampered)
    assert verify_launch_signature(URL, params) == consumer


@freeze_time(VECTOR_TIME)
def test_the_nonce_is_kept_twice_the_window(db):
    consume_nonce("k", "n", "1700000000")
    row = SpentNonce.objects.get(digest=nonce_key("k", "n", "1700000000"))
    assert row.expires_at == timezone.now() + dt.timedelta(seconds=600)


def test_the_nonce_key_depends_on_key_nonce_and_timestamp():
    keys = {
        nonce_key("k", "n", "1"),
        nonce_key("k2", "n", "1"),
        nonce_key("k", "n2", "1"),
        nonce_key("k", "n", "2"),
        nonce_key("k\x00n", "", "1"),
    }
    assert len(keys) == 5
    assert all(len(k) == 64 for k in keys)  # fits SpentNonce.digest


def test_a_nonce_is_spent_once_per_key_and_timestamp(db):
    consume_nonce("k", "n", "1700000000")
    with pytest.raises(ReplayedNonce):
        consume_nonce("k", "n", "1700000000")
    consume_nonce("other-key", "n", "1700000000")
    consume_nonce("k", "n", "1700000001")


def test_spent_nonces_do_not_live_in_the_cache(consumer):
    """A cache that forgets everything at once does not let a replay through."""
    params = signed(consumer)
    assert verify_launch_signature(URL, params) == consumer
    caches["default"].clear()
    with pytest.raises(ReplayedNonce):
        verify_launch_signature(URL, params)


def test_the_nonce_store_fails_closed(consumer, caplog):
    params = signed(consumer)
    with (
        mock.patch.object(
            SpentNonce.objects, "create", side_effect=OperationalError("database down")
        ),
        pytest.raises(ReplayedNonce, match="could not be checked"),
    ):
        verify_launch_signature(URL, params)
    assert "unavailable" in caplog.text
    assert not SpentNonce.objects.exists()


def test_no_secret_or_signature_is_logged(consumer, caplog):
    caplog.set_level("DEBUG")
    params = signed(consumer)
    signature = dict(params)["oauth_signature"]
    bad = [(k, "Instructor" if k == "roles" else v) for k, v in params]
    caplog.clear()  # what oauthlib's client logged while signing is the consumer's side
    with pytest.raises(InvalidSignature):
        verify_launch_signature(URL, bad)
    verify_launch_signature(URL, params)
    with pytest.raises(ReplayedNonce):
        verify_launch_signature(URL, params)
    assert consumer.consumer_secret not in caplog.text
    assert signature not in caplog.text


def test_the_validator_accepts_short_keys_and_nonces_but_bounds_them():
    validator = LtiRequestValidator()
    assert validator.check_client_key("key")
    assert validator.check_nonce("nonce123")
    assert not validator.check_client_key("")
    assert not validator.check_nonce("n" * 256)
    assert validator.enforce_ssl is False
