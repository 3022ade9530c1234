"""verify_student.ssencrypt: the known-answer vectors byte for byte, then properties."""

from __future__ import annotations

import base64
import json
import string
from pathlib import Path

import pytest
from Crypto.Cipher import PKCS1_OAEP
from Crypto.PublicKey import RSA
from hypothesis import given
from hypothesis import strategies as st

from verify_student import ssencrypt

DATA = Path(__file__).resolve().parent.parent / "data"
AES_VECTORS = json.loads((DATA / "ssencrypt.json").read_text(encoding="utf-8"))["aes"]
SIGNING_VECTORS = json.loads((DATA / "signing.json").read_text(encoding="utf-8"))["signing"]
RSA_PUBLIC = (DATA / "rsa_test_public.pem").read_text()
RSA_PRIVATE = (DATA / "rsa_test_private.pem").read_text()
URLSAFE_ALPHABET = set((string.ascii_letters + string.digits + "-_=").encode())

keys = st.binary(min_size=32, max_size=32)


def plaintext_of(vector: dict) -> bytes:
    if "plaintext_b64" in vector:
        return base64.b64decode(vector["plaintext_b64"])
    return vector["plaintext_utf8"].encode("utf-8")


def vector_id(vector: dict) -> str:
    return vector.get("name") or vector.get("plaintext_utf8", "binary")[:20] or "empty"


# -- AES vectors ---------------------------------------------------------------------------


@pytest.mark.parametrize("vector", AES_VECTORS, ids=vector_id)
def test_iv_is_derived_from_the_key(vector):
    key = bytes.fromhex(vector["key_hex"])

    assert ssencrypt.aes_iv_for_key(key) == vector["iv_ascii"].encode("ascii")


@pytest.mark.parametrize("vector", AES_VECTORS, ids=vector_id)
def test_aes_encrypt_matches_the_vector(vector):
    key = bytes.fromhex(vector["key_hex"])

    ciphertext = ssencrypt.aes_encrypt(plaintext_of(vector), key)

    assert base64.b64encode(ciphertext).decode("ascii") == vector["encrypt_b64"]
    assert ssencrypt.aes_decrypt(ciphertext, key) == plaintext_of(vector)


@pytest.mark.parametrize("vector", AES_VECTORS, ids=vector_id)
def test_encrypt_and_encode_is_the_url_safe_vector(vector):
    key = bytes.fromhex(vector["key_hex"])

    encoded = ssencrypt.encrypt_and_encode(plaintext_of(vector), key)

    assert encoded == vector["encrypt_and_encode"].encode("ascii")
    assert ssencrypt.decode_and_decrypt(vector["encrypt_and_encode"], key) == plaintext_of(vector)


def test_the_vectors_cover_the_url_safe_alphabet():
    # Otherwise a standard-base64 encoder would pass the vector tests too.
    urlsafe_only = [v for v in AES_VECTORS if v["encrypt_b64"] != v["encrypt_and_encode"]]
    assert urlsafe_only
    for vector in urlsafe_only:
        assert set(vector["encrypt_b64"]) & set("+/")
        assert not set(vector["encrypt_and_encode"]) & set("+/")


@pytest.mark.parametrize("vector", [v for v in AES_VECTORS if "plaintext_utf8" in v])
def test_text_is_encrypted_as_utf8(vector):
    key = bytes.fromhex(vector["key_hex"])

    assert ssencrypt.encrypt_and_encode(vector["plaintext_utf8"], key) == vector[
        "encrypt_and_encode"
    ].encode("ascii")


# -- AES errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33])
def test_aes_needs_a_256_bit_key(size):
    with pytest.raises(ValueError, match="AES-256 needs a 32-byte key"):
        ssencrypt.aes_encrypt(b"data", b"k" * size)


@pytest.mark.parametrize(
    ("encoded", "message"),
    [("not base64 at all!", "not URL-safe base64"), ("QUJD", "multiple of the AES block size")],
)
def test_decode_and_decrypt_refuses_malformed_input(encoded, message):
    with pytest.raises(ValueError, match=message):
        ssencrypt.decode_and_decrypt(encoded, bytes(32))


def test_decrypting_with_the_wrong_key_fails_on_the_padding():
    vector = AES_VECTORS[0]

    with pytest.raises(ValueError, match=r"[Pp]adding"):
        ssencrypt.decode_and_decrypt(vector["encrypt_and_encode"], b"\x01" * 32)


def test_random_aes_keys_are_256_bit_and_fresh():
    first, second = ssencrypt.random_aes_key(), ssencrypt.random_aes_key()

    assert len(first) == len(second) == 32
    assert first != second


# -- RSA -------------------------------------------------------------------------------------


def test_rsa_round_trip_with_the_test_key_pair():
    aes_key = ssencrypt.random_aes_key()

    sealed = ssencrypt.rsa_encrypt(aes_key, RSA_PUBLIC)

    assert len(sealed) == 256  # 2048-bit key
    assert ssencrypt.rsa_decrypt(sealed, RSA_PRIVATE) == aes_key


def test_rsa_is_oaep_sha1_as_the_reviewer_expects():
    sealed = ssencrypt.rsa_encrypt(b"face key", RSA_PUBLIC)
    # Opened by pycryptodome directly: OAEP's defaults are SHA-1 and MGF1-SHA-1.
    reviewer = PKCS1_OAEP.new(RSA.import_key(RSA_PRIVATE))

    assert reviewer.decrypt(sealed) == b"face key"
    assert ssencrypt.rsa_encrypt(b"face key", RSA_PUBLIC) != sealed  # randomized padding


def test_rsa_decrypt_with_a_public_key_fails():
    sealed = ssencrypt.rsa_encrypt(b"x", RSA_PUBLIC)

    with pytest.raises(TypeError):
        ssencrypt.rsa_decrypt(sealed, RSA_PUBLIC)


@pytest.mark.parametrize("text", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n"])
def test_load_rsa_key_refuses_what_is_not_a_key(text):
    with pytest.raises(ValueError, match="not an RSA key"):
        ssencrypt.load_rsa_key(text)


def test_key_text_is_mime_base64_in_76_character_lines():
    sealed = ssencrypt.rsa_encrypt(ssencrypt.random_aes_key(), RSA_PUBLIC)

    text = ssencrypt.encode_key_text(sealed)

    lines = text.split("\n")
    assert text.endswith("\n") and lines[-1] == ""
    assert [len(line) for line in lines[:-2]] == [76] * (len(lines) - 2)
    assert 0 < len(lines[-2]) <= 76
    assert base64.b64decode("".join(lines)) == sealed
    assert ssencrypt.decode_key_text(text) == sealed


def test_decode_key_text_refuses_what_is_not_base64():
    with pytest.raises(ValueError, match="not base64"):
        ssencrypt.decode_key_text("@@@ not base64 @@@")


# -- signing vectors -------------------------------------------------------------------------


@pytest.mark.parametrize("vector", SIGNING_VECTORS, ids=vector_id)
def test_signing_message_matches_the_vector(vector):
    message = ssencrypt.signing_format_message(vector["method"], vector["headers"], vector["body"])

    assert message == vector["message"]


@pytest.mark.parametrize("vector", SIGNING_VECTORS, ids=vector_id)
def test_signature_and_authorization_match_the_vector(vector):
    message, signature, authorization = ssencrypt.generate_signed_message(
        vector["method"],
        vector["headers"],
        vector["body"],
        vector["access_key"],
        vector["secret_key"],
    )

    assert message == vector["message"]
    assert signature == vector["signature"]
    assert ssencrypt.generate_signature(vector["secret_key"], vector["message"]) == signature
    expected = vector.get("authorization", f"SSI {vector['access_key']}:{vector['signature']}")
    assert authorization == expected


def test_the_nested_quirks_vector_replaces_the_prefix():
    vector = next(v for v in SIGNING_VECTORS if v["name"].startswith("nested quirks"))

    body = ssencrypt.body_string(vector["body"])

    assert body == "b:c:1\nl.0:5\nlist.0:1\nlist.1.x:y\nn:null\nz:3\n"
    assert vector["message"] == "GET\n\n" + body


def test_header_string_keeps_the_fixed_order_and_skips_absent_headers():
    headers = {"Date": "D", "X-Other": "ignored", "Content-MD5": "M", "Content-Type": "T"}

    assert ssencrypt.header_string(headers) == "T\nD\nM\n"
    assert ssencrypt.header_string({"Date": "D"}) == "D\n"
    assert ssencrypt.header_string({}) == ""


# -- has_valid_signature ---------------------------------------------------------------------


def signed_headers(vector: dict) -> dict:
    authorization = f"SSI {vector['access_key']}:{vector['signature']}"
    return {**vector["headers"], "Authorization": authorization}


@pytest.mark.parametrize("vector", SIGNING_VECTORS, ids=vector_id)
def test_a_valid_signature_is_accepted(vector):
    headers = signed_headers(vector)

    assert ssencrypt.has_valid_signature(
        vector["method"], headers, vector["body"], vector["access_key"], vector["secret_key"]
    )


@pytest.mark.parametrize(
    "change",
    ["wrong access key", "wrong secret", "body changed", "date changed", "truncated signature"],
)
def test_a_wrong_signature_is_refused(change):
    vector = next(v for v in SIGNING_VECTORS if v["name"] == "submission")
    headers = signed_headers(vector)
    body = dict(vector["body"])
    access_key, secret_key = vector["access_key"], vector["secret_key"]
    if change == "wrong access key":
        access_key = "OTHERACCESSKEY"
    elif change == "wrong secret":
        secret_key = "another secret"
    elif change == "body changed":
        body["ExpectedName"] = "Someone Else"
    elif change == "date changed":
        headers["Date"] = "Wed, 03 Jan 2018 10:20:30 GMT"
    else:
        headers["Authorization"] = headers["Authorization"][:-4]

    assert not ssencrypt.has_valid_signature("POST", headers, body, access_key, secret_key)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "SSI",
        "SSI a",
        "SSI a:",
        "SSI :b",
        "Bearer x:y",
        "SSI a:b:c",
        "SSI \ud800:b",  # not UTF-8
        42,
        b"SSI a:b",
        ["SSI"],
    ],
)
def test_a_malformed_authorization_is_false_and_never_raises(authorization):
    vector = SIGNING_VECTORS[0]
    headers = {**vector["headers"], "Authorization": authorization}

    assert (
        ssencrypt.has_valid_signature(
            "POST", headers, vector["body"], vector["access_key"], vector["secret_key"]
        )
        is False
    )


def test_a_body_that_is_not_utf8_is_false_and_never_raises():
    # json.loads accepts a lone surrogate escape, so a callback body can carry one.
    vector = SIGNING_VECTORS[0]
    body = json.loads('{"EdX-ID": "x", "Reason": "\\ud800"}')
    headers = {**vector["headers"], "Authorization": "SSI BBBBBBBBBBBBBBBBBBBB:c2lnbmF0dXJl"}

    assert not ssencrypt.has_valid_signature(
        "POST", headers, body, vector["access_key"], vector["secret_key"]
    )


def test_a_missing_authorization_is_false():
    vector = SIGNING_VECTORS[0]

    assert not ssencrypt.has_valid_signature(
        "POST", vector["headers"], vector["body"], vector["access_key"], vector["secret_key"]
    )


# -- properties ------------------------------------------------------------------------------


@given(data=st.binary(max_size=2048), key=keys)
def test_encrypt_decrypt_round_trip(data, key):
    encoded = ssencrypt.encrypt_and_encode(data, key)

    assert set(encoded) <= URLSAFE_ALPHABET
    assert len(base64.urlsafe_b64decode(encoded)) == (len(data) // 16 + 1) * 16
    assert ssencrypt.decode_and_decrypt(encoded, key) == data


@given(key_text=st.binary(min_size=1, max_size=600))
def test_key_text_round_trip(key_text):
    text = ssencrypt.encode_key_text(key_text)

    assert all(len(line) <= 76 for line in text.split("\n"))
    assert ssencrypt.decode_key_text(text) == key_text


utf8_text = st.characters(blacklist_categories=("Cs",))  # no lone surrogates
flat_bodies = st.dictionaries(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=":\n"), min_size=1),
    st.one_of(st.none(), st.integers(), st.text(utf8_text, max_size=30)),
    max_size=8,
)


@given(body=flat_bodies, secret=st.text(utf8_text, min_size=1, max_size=40))
def test_what_is_signed_verifies(body, secret):
    headers = {"Content-Type": "application/json", "Date": "Tue, 02 Jan 2018 10:20:30 GMT"}
    message, _, authorization = ssencrypt.generate_signed_message(
        "POST", headers, body, "access", secret
    )
    headers["Authorization"] = authorization

    assert message.startswith("POST\n\napplication/json\nTue, 02 Jan 2018 10:20:30 GMT\n")
    assert ssencrypt.has_valid_signature("POST", headers, body, "access", secret)
    assert not ssencrypt.has_valid_signature("POST", headers, body, "access", secret + "x")


@given(body=flat_bodies)
def test_body_string_is_one_sorted_line_per_key(body):
    text = ssencrypt.body_string(body)

    expected = "".join(
        f"{key}:{'null' if value is None else value}\n" for key, value in sorted(body.items())
    )
    assert text == expected


# -- parse_authorization: one spelling only ------------------------------------------------


def test_parse_authorization_reads_the_one_spelling():
    assert ssencrypt.parse_authorization("SSI key-1:c2ln+/=") == ("key-1", "c2ln+/=")


@pytest.mark.parametrize(
    "authorization",
    [
        "SSI  k:s",
        "SSI \tk:s",
        "SSI\tk:s",
        "SSI \x0bk:s",
        " SSI k:s",
        "SSI k:s ",
        "SSI k:s\n",
        "ssi k:s",
        "SSI k :s",
        "SSI k: s",
        "SSI k:s\u00a0",
        "SSI k\u00e9:s",
    ],
)
def test_parse_authorization_refuses_every_other_spelling(authorization):
    assert ssencrypt.parse_authorization(authorization) is None
