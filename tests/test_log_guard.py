"""The log guard itself: it finds each kind of leak and passes ordinary records."""

import logging

import pytest
from django.conf import settings

from tests import log_guard


def record(message, *args):
    return logging.LogRecord("x", logging.INFO, __file__, 1, message, args, None)


@pytest.mark.parametrize(
    "message",
    [
        "secret is " + settings.VERIFY_STUDENT["SOFTWARE_SECURE"]["API_SECRET_KEY"],
        "key " + settings.VERIFY_STUDENT["SOFTWARE_SECURE"]["FACE_IMAGE_AES_KEY"],
        "headers {'Authorization': 'SSI BBBB:cgRohv/+q0AwKAllAZY/LrR03+pw4f14CH/KFqfLsPA='}",
        "params [('oauth_signature', 'bCZ/hwF/L57GU9x825zUlvjbDtM=')]",
        "body oauth_signature=bCZ%2FhwF%2FL57GU9x825zUlvjbDtM%3D",
        "token Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
        "data " + repr(b"\x89PNG\r\n\x1a\nrest"),
        "data " + repr(b"\xff\xd8\xff\xe0rest"),
        "-----BEGIN PRIVATE KEY-----",
    ],
)
def test_each_kind_of_leak_is_found(message):
    assert log_guard.find_leaks([record(message)])


def test_ordinary_records_pass():
    records = [
        record("Verification attempt %s approved by user %s.", 3, 7),
        record("LTI launch refused: bad signature for consumer key %r", "key1"),
        record("Sent receipt %s: HTTP %s.", "abc-123", 200),
    ]
    assert log_guard.find_leaks(records) == []
