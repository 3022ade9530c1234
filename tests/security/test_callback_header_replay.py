"""A captured results callback re-sent with its Authorization header reformatted.

The attack: the reviewer's signed PASS is captured, staff deny the attempt,
and the PASS is sent again, same body and Date, with the header spelled
differently (``SSI<space><tab>key:sig``, two spaces, a vertical tab...). A
replay memory keyed on the header's text takes each spelling for a new
verdict, and a lenient parser accepts it, undoing the denial.

Sent byte for byte (``http.client``) to a real WSGI server (pytest-django's
live server): whatever spelling reaches the view is refused (400 with the
reason) or recognised as the verdict already applied; the denial stands.
"""

from __future__ import annotations

import http.client
import json
from email.utils import formatdate
from urllib.parse import urlsplit

import pytest
from django.test import Client

from tests.factories import SoftwareSecurePhotoVerificationFactory, StaffFactory
from tests.security.helpers import ACCESS_KEY, CALLBACK_URL, SECRET_KEY, post_callback, snapshot
from verify_student import api, ssencrypt
from verify_student.views import MALFORMED_AUTHORIZATION

#: The same credentials, spelled as a lenient parser (``strip``, ``partition(" ")``) reads them.
SPELLINGS = [
    "SSI  {key}:{sig}",  # two spaces
    "SSI \t{key}:{sig}",  # space, tab
    "SSI\t{key}:{sig}",  # tab alone
    "SSI \x0b{key}:{sig}",  # vertical tab
    "SSI \x0c{key}:{sig}",  # form feed
    "SSI {key}:{sig}\t ",  # trailing whitespace
    " SSI {key}:{sig}",  # leading space
    "SSI {key}: {sig}",
    "SSI {key} :{sig}",
    "SSI {key}:{sig}\x0b",
]


def send_raw(live_url: str, body: bytes, authorization: str, date: str) -> tuple[int, bytes]:
    """POST the callback with exactly these header bytes; (status, body) of the answer."""
    url = urlsplit(live_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        connection.putrequest("POST", CALLBACK_URL)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        connection.putheader("Date", date)
        connection.putheader("Authorization", authorization)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def signed(attempt, result: str = "PASS") -> tuple[bytes, str, str, str]:
    """(body, Date, access key, signature) of the reviewer's signed verdict."""
    body = {"EdX-ID": attempt.receipt_id, "Result": result, "Reason": "", "MessageType": ""}
    date = formatdate(usegmt=True)
    _message, signature, _header = ssencrypt.generate_signed_message(
        "POST", {"Date": date}, body, ACCESS_KEY, SECRET_KEY
    )
    return json.dumps(body).encode(), date, ACCESS_KEY, signature


@pytest.mark.django_db(transaction=True)
def test_a_captured_pass_resent_in_any_spelling_does_not_undo_a_staff_denial(live_server):
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    body, date, key, sig = signed(attempt)
    assert send_raw(live_server.url, body, f"SSI {key}:{sig}", date) == (200, b"OK!")
    attempt.refresh_from_db()
    assert attempt.status == "approved"

    api.review_attempt(attempt, "deny", StaffFactory(), "The photo ID is not the learner's.")
    for spelling in SPELLINGS:
        authorization = spelling.format(key=key, sig=sig)
        status, answer = send_raw(live_server.url, body, authorization, date)
        # The server may trim the value's ends (then it is the verdict already applied,
        # answered "OK!"); any other spelling reaches the view and is refused.
        assert (status, answer) in (
            (200, b"OK!"),
            (400, MALFORMED_AUTHORIZATION.encode()),
        ), repr(authorization)
        attempt.refresh_from_db()
        assert (attempt.status, attempt.error_msg) == (
            "denied",
            "The photo ID is not the learner's.",
        ), repr(authorization)


@pytest.mark.django_db(transaction=True)
def test_a_first_verdict_in_another_spelling_is_refused_with_the_reason(live_server):
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    body, date, key, sig = signed(attempt)
    status, answer = send_raw(live_server.url, body, f"SSI  {key}:{sig}", date)
    assert (status, answer) == (400, MALFORMED_AUTHORIZATION.encode())
    attempt.refresh_from_db()
    assert attempt.status == "submitted"


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", [*SPELLINGS, "ssi {key}:{sig}", "SSI {key}:{sig}\n"])
def test_every_other_spelling_is_400_and_changes_nothing(spelling):
    """The view itself (no server to trim anything): only ``SSI <key>:<sig>`` is read."""
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    body, date, key, sig = signed(attempt)
    before = snapshot()
    response = post_callback(
        Client(),
        body,
        HTTP_DATE=date,
        HTTP_AUTHORIZATION=spelling.format(key=key, sig=sig),
    )
    assert (response.status_code, response.content) == (400, MALFORMED_AUTHORIZATION.encode())
    assert snapshot() == before
