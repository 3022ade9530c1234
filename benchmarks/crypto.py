"""Encryption: ``ssencrypt`` against raw pycryptodome AES-CBC + base64 on the same bytes.

Bar: ``encrypt_and_encode`` and ``decode_and_decrypt`` of 1, 5 and 10 MB run at
>= 0.9x the throughput of the raw baseline: PKCS#7 pad, pycryptodome
AES-256-CBC (same key and IV), then the standard library's URL-safe base64
(``base64.urlsafe_b64encode`` / ``urlsafe_b64decode``: the wire format is
URL-safe, so the raw pipeline that produces the same bytes uses it), and the
reverse. For context the standard-alphabet ``binascii`` pipeline (a
different wire format, no translation pass) is printed alongside.
"""

from __future__ import annotations

import base64
import binascii
import os

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad, unpad

from benchmarks.common import figure, interleaved, main_for
from verify_student import ssencrypt

AREA = "encryption"
SIZES_MB = (1, 5, 10)
BAR = 0.9


def raw_encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    return base64.urlsafe_b64encode(AES.new(key, AES.MODE_CBC, iv).encrypt(pad(data, 16)))


def raw_decrypt(encoded: bytes, key: bytes, iv: bytes) -> bytes:
    return unpad(AES.new(key, AES.MODE_CBC, iv).decrypt(base64.urlsafe_b64decode(encoded)), 16)


def std_encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    return binascii.b2a_base64(AES.new(key, AES.MODE_CBC, iv).encrypt(pad(data, 16)), newline=False)


def std_decrypt(encoded: bytes, key: bytes, iv: bytes) -> bytes:
    return unpad(AES.new(key, AES.MODE_CBC, iv).decrypt(binascii.a2b_base64(encoded)), 16)


def run(_db: str = "none") -> None:
    key = ssencrypt.random_aes_key()
    iv = ssencrypt.aes_iv_for_key(key)
    for size_mb in SIZES_MB:
        _measure(size_mb, key, iv)


def _measure(size_mb: int, key: bytes, iv: bytes) -> None:
    data = os.urandom(size_mb * 1024 * 1024)
    ours = ssencrypt.encrypt_and_encode(data, key)
    raw = raw_encrypt(data, key, iv)
    std = std_encrypt(data, key, iv)
    assert ours == raw  # the same bytes on the wire
    assert ssencrypt.decode_and_decrypt(ours, key) == data
    rounds = 15 if size_mb < 10 else 11
    setup = (
        f"{size_mb} MiB of random bytes, AES-256-CBC, one call per sample, "
        f"{rounds} interleaved rounds, medians"
    )
    enc = interleaved(
        {
            "ssencrypt.encrypt_and_encode": lambda: ssencrypt.encrypt_and_encode(data, key),
            "raw pad+AES-CBC+urlsafe_b64encode": lambda: raw_encrypt(data, key, iv),
            "(context) standard-alphabet binascii": lambda: std_encrypt(data, key, iv),
        },
        rounds,
    )
    dec = interleaved(
        {
            "ssencrypt.decode_and_decrypt": lambda: ssencrypt.decode_and_decrypt(ours, key),
            "raw urlsafe_b64decode+AES-CBC+unpad": lambda: raw_decrypt(raw, key, iv),
            "(context) standard-alphabet binascii": lambda: std_decrypt(std, key, iv),
        },
        rounds,
    )
    for kind, medians in (("encrypt", enc), ("decrypt", dec)):
        (ours_name, ours_s), (raw_name, raw_s), (std_name, std_s) = medians.items()
        ratio = raw_s / ours_s  # throughput ratio = inverse time ratio
        figure(
            AREA,
            f"{kind} {size_mb} MB: throughput vs raw pycryptodome",
            setup=setup,
            values={
                ours_name: f"{ours_s * 1000:.2f} ms  ({size_mb / ours_s:.0f} MiB/s)",
                raw_name: f"{raw_s * 1000:.2f} ms  ({size_mb / raw_s:.0f} MiB/s)",
                std_name: f"{std_s * 1000:.2f} ms  ({size_mb / std_s:.0f} MiB/s)",
            },
            ratio=ratio,
            bar=f">= {BAR}x the raw URL-safe pipeline's throughput",
            passed=ratio >= BAR,
        )


if __name__ == "__main__":
    main_for(run)
