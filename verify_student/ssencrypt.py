"""Encryption and request signing for the Software Secure review service.

Pure functions over bytes and dicts; imports no Django, so the reviewer side
(and the tests' independent reviewer) can use it alone. The formats are the
original's, pinned by the known-answer vectors in ``tests/data/``:

* AES-256-CBC with PKCS#7 padding. The IV is derived from the key: the first
  16 characters of ``md5(key + md5(key).hexdigest()).hexdigest()``.
* ``encrypt_and_encode`` returns URL-safe base64 of the ciphertext.
* RSA is OAEP with SHA-1; sealed keys are kept as MIME base64 (76-char lines).
* A signed request's message is ``METHOD\\n\\n`` + the Content-Type, Date and
  Content-MD5 header values (those present, each + ``\\n``) + the body string;
  the signature is base64(HMAC-SHA256(secret, message)) and the header is
  ``Authorization: SSI <access key>:<signature>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from typing import Any

from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.PublicKey import RSA
from Crypto.Util.Padding import pad, unpad

AES_KEY_BYTES = 32
# Streaming unit: a multiple of the AES block (16) and of base64's 3-byte group.
_CHUNK = 48 * 1024
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_SIGNED_HEADERS = ("Content-Type", "Date", "Content-MD5")


# -- AES -------------------------------------------------------------------------
def _to_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def aes_iv_for_key(key: bytes) -> bytes:
    """The IV the original derives from the key (16 ASCII hex characters)."""
    first = hashlib.md5(key).hexdigest().encode("ascii")  # noqa: S324 - wire format
    return hashlib.md5(key + first).hexdigest()[:16].encode("ascii")  # noqa: S324


def aes_cipher_from_key(key: bytes) -> Any:
    """An AES-256-CBC cipher object with the derived IV."""
    if len(key) != AES_KEY_BYTES:
        raise ValueError(f"AES-256 needs a {AES_KEY_BYTES}-byte key, got {len(key)} bytes")
    return AES.new(key, AES.MODE_CBC, aes_iv_for_key(key))


def aes_encrypt(data: bytes | str, key: bytes) -> bytes:
    """Encrypt ``data`` (str is UTF-8 encoded) with AES-256-CBC and PKCS#7 padding."""
    return aes_cipher_from_key(key).encrypt(pad(_to_bytes(data), AES.block_size))


def aes_decrypt(encrypted_data: bytes, key: bytes) -> bytes:
    """Decrypt what ``aes_encrypt`` produced; bad padding raises ValueError."""
    return unpad(aes_cipher_from_key(key).decrypt(encrypted_data), AES.block_size)


def encrypt_and_encode(data: bytes | str, key: bytes) -> bytes:
    """AES-encrypt, then URL-safe base64 encode (what is stored and sent).

    Same bytes as ``urlsafe_b64encode(aes_encrypt(data, key))``, built chunk by
    chunk: no padded copy of the plaintext and no whole ciphertext are held,
    so a 10 MB photo costs about the base64 text twice (parts and result).
    """
    cipher = aes_cipher_from_key(key)
    view = memoryview(_to_bytes(data))
    last = len(view) - len(view) % _CHUNK
    # Every chunk but the last is a multiple of 3 bytes: its base64 has no "=" padding.
    parts = [_urlsafe_b64(cipher.encrypt(view[i : i + _CHUNK])) for i in range(0, last, _CHUNK)]
    parts.append(_urlsafe_b64(cipher.encrypt(pad(bytes(view[last:]), AES.block_size))))
    return b"".join(parts)


def _urlsafe_b64(chunk: bytes) -> bytes:
    return binascii.b2a_base64(chunk, newline=False).translate(_TO_URLSAFE)


def decode_and_decrypt(encoded_data: bytes | str, key: bytes) -> bytes:
    """Reverse ``encrypt_and_encode``; malformed input raises ValueError."""
    try:
        raw = base64.urlsafe_b64decode(_to_bytes(encoded_data))
    except binascii.Error as exc:
        raise ValueError("not URL-safe base64") from exc
    if len(raw) % AES.block_size:
        raise ValueError("ciphertext length is not a multiple of the AES block size")
    return aes_decrypt(raw, key)


def random_aes_key() -> bytes:
    """A fresh 256-bit key from the OS CSPRNG."""
    return os.urandom(AES_KEY_BYTES)


# -- RSA -------------------------------------------------------------------------
def load_rsa_key(key_text: str | bytes) -> RSA.RsaKey:
    """Import a PEM (or DER) RSA key; anything else raises ValueError."""
    try:
        return RSA.import_key(key_text)
    except (ValueError, IndexError, TypeError) as exc:
        raise ValueError("not an RSA key") from exc


def rsa_encrypt(data: bytes | str, rsa_pub_key_str: str | bytes) -> bytes:
    """Seal ``data`` with the RSA public key (OAEP, SHA-1)."""
    return PKCS1_OAEP.new(load_rsa_key(rsa_pub_key_str)).encrypt(_to_bytes(data))


def rsa_decrypt(data: bytes, rsa_priv_key_str: str | bytes) -> bytes:
    """Open what ``rsa_encrypt`` sealed, with the private key."""
    return PKCS1_OAEP.new(load_rsa_key(rsa_priv_key_str)).decrypt(data)


def encode_key_text(sealed_key: bytes) -> str:
    """MIME base64 (76-character lines), as the original stored sealed keys."""
    return base64.encodebytes(sealed_key).decode("ascii")


def decode_key_text(key_text: str | bytes) -> bytes:
    """Reverse ``encode_key_text`` (line breaks ignored)."""
    try:
        return base64.b64decode(_to_bytes(key_text).replace(b"\n", b""), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


# -- request signing ---------------------------------------------------------------
def header_string(headers_dict: Mapping[str, str]) -> str:
    """The signed header values, in the fixed order, each followed by a newline."""
    return "".join(f"{headers_dict[name]}\n" for name in _SIGNED_HEADERS if name in headers_dict)


def body_string(body_dict: Mapping[str, Any], prefix: str = "") -> str:
    """The body as the original signs it.

    Keys sorted; ``prefix+key:value`` lines; None as ``null``; list items as
    ``key.i:value`` (dict items as ``key.i.`` prefixed); a nested dict's lines
    take ``key:`` as their prefix, replacing (not joining) the outer prefix.
    """
    parts: list[str] = []
    for key, value in sorted(body_dict.items()):
        if isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    parts.append(body_string(item, f"{key}.{index}."))
                else:
                    parts.append(f"{key}.{index}:{item}\n")
        elif isinstance(value, Mapping):
            parts.append(body_string(value, f"{key}:"))
        else:
            parts.append(f"{prefix}{key}:{'null' if value is None else value}\n")
    return "".join(parts)


def signing_format_message(
    method: str, headers_dict: Mapping[str, str], body_dict: Mapping[str, Any]
) -> str:
    """The exact text that is signed."""
    return f"{method}\n\n{header_string(headers_dict)}{body_string(body_dict)}"


def generate_signature(secret_key: str, message: str) -> str:
    """base64(HMAC-SHA256(secret, message)), both UTF-8."""
    digest = hmac.new(_to_bytes(secret_key), _to_bytes(message), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def generate_signed_message(
    method: str,
    headers_dict: Mapping[str, str],
    body_dict: Mapping[str, Any],
    access_key: str,
    secret_key: str,
) -> tuple[str, str, str]:
    """Return ``(message, signature, authorization_header_value)``."""
    message = signing_format_message(method, headers_dict, body_dict)
    signature = generate_signature(secret_key, message)
    return message, signature, f"SSI {access_key}:{signature}"


#: ``SSI <access key>:<signature>``: one space, and visible ASCII other than ``:`` on
#: each side. Nothing else is accepted (no other whitespace, no padding).
_AUTHORIZATION = re.compile(r"SSI ([\x21-\x39\x3b-\x7e]+):([\x21-\x39\x3b-\x7e]+)")


def parse_authorization(value: Any) -> tuple[str, str] | None:
    """Split ``SSI <access key>:<signature>``; anything else gives None.

    Strict on purpose: the header has one spelling, so a signed request
    cannot be told apart from its replay by reformatting the header.
    """
    if not isinstance(value, str):
        return None
    match = _AUTHORIZATION.fullmatch(value)
    if match is None:
        return None
    return match.group(1), match.group(2)


def has_valid_signature(
    method: str,
    headers_dict: Mapping[str, str],
    body_dict: Mapping[str, Any],
    access_key: str,
    secret_key: str,
) -> bool:
    """True when ``headers_dict['Authorization']`` signs this request with our keys.

    Both the access key and the signature are compared in constant time; a
    missing or malformed header is a plain False, never an exception.
    """
    parsed = parse_authorization(headers_dict.get("Authorization"))
    if parsed is None:
        return False
    post_access_key, post_signature = parsed
    try:
        _, expected_signature, _ = generate_signed_message(
            method, headers_dict, body_dict, access_key, secret_key
        )
        key_ok = hmac.compare_digest(_to_bytes(post_access_key), _to_bytes(access_key))
        sig_ok = hmac.compare_digest(_to_bytes(post_signature), _to_bytes(expected_signature))
    except UnicodeEncodeError:
        # A lone surrogate (JSON lets a body carry "\ud800") is not UTF-8: nobody signed it.
        return False
    return key_ok and sig_ok
