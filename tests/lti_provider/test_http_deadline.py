"""Outbound requests end by ``OUTCOME_TIMEOUT`` overall, however slowly the peer answers.

A timeout per socket read does not bound a request: a server that sends one
byte just before each read would time out holds the worker for as long as it
likes. The trickling server here (on 127.0.0.1) sends its headers, or its
body, a few bytes at a time, each well within the read timeout; the request
must give up once ``OUTCOME_TIMEOUT`` has passed in all.
"""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from lti_provider import lti13, outcomes
from lti_provider.exceptions import OutcomeServiceUnavailable, PlatformKeysUnavailable
from lti_provider.http import GuardedSession, PinnedSession
from tests.factories import GradedAssignmentFactory
from tests.local_server import serve_on_loopback

TIMEOUT = 1.0
#: Each piece comes well within the read timeout; all of them take many timeouts.
PAUSE = 0.1
PIECES = 80  # 8 s of trickling, against a 1 s deadline


def trickler(part: str) -> type[BaseHTTPRequestHandler]:
    """A handler that trickles its status and headers, or its body, ``PAUSE`` apart."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def trickle(self, data: bytes) -> None:
            for i in range(0, len(data), max(1, len(data) // PIECES)):
                self.wfile.write(data[i : i + max(1, len(data) // PIECES)])
                self.wfile.flush()
                time.sleep(PAUSE)

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            if length:
                self.rfile.read(length)
            body = b'{"keys": []}' + b" " * 400
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            if part == "headers":
                self.trickle(head)
                self.wfile.write(body)
            else:
                self.wfile.write(head)
                self.wfile.flush()
                self.trickle(body)

        do_GET = do_POST = answer

    return Handler


@pytest.fixture(params=["headers", "body"])
def slow_server(request, settings):
    settings.LTI_PROVIDER = {
        **settings.LTI_PROVIDER,
        "OUTCOME_TIMEOUT": TIMEOUT,
        "ALLOW_INSECURE_OUTCOME_URLS": True,
        "ALLOW_PRIVATE_OUTCOME_HOSTS": True,
    }
    with serve_on_loopback(trickler(request.param), quiet_errors=True) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"


def elapsed(function, *args):
    start = time.monotonic()
    try:
        function(*args)
    except Exception as exc:  # the test checks what was raised
        return time.monotonic() - start, exc
    return time.monotonic() - start, None


def test_a_guarded_request_gives_up_at_the_deadline(slow_server):
    def get():
        with GuardedSession() as session:
            return session.get(slow_server + "/jwks").content

    seconds, error = elapsed(get)
    assert isinstance(error, requests.RequestException)
    assert seconds < TIMEOUT + 1.5


def test_a_streamed_read_gives_up_at_the_deadline_too(slow_server):
    def get():
        with PinnedSession() as session:
            response = session.get(slow_server + "/jwks", stream=True)
            return b"".join(response.iter_content(64))

    seconds, error = elapsed(get)
    assert isinstance(error, requests.RequestException)
    assert seconds < TIMEOUT + 1.5


@pytest.mark.django_db
def test_a_score_to_a_trickling_outcome_service_gives_up_at_the_deadline(slow_server):
    assignment = GradedAssignmentFactory(
        outcome_service__lis_outcome_service_url=slow_server + "/outcomes/"
    )
    seconds, error = elapsed(outcomes.send_replace_result, assignment, 0.5)
    assert isinstance(error, OutcomeServiceUnavailable)  # retried later by the task
    assert seconds < TIMEOUT + 1.5


def test_a_trickled_key_set_gives_up_at_the_deadline(slow_server):
    seconds, error = elapsed(lti13.fetch_key_set, slow_server + "/jwks")
    assert isinstance(error, PlatformKeysUnavailable)
    assert seconds < TIMEOUT + 1.5


def test_a_prompt_peer_is_unaffected(settings):
    settings.LTI_PROVIDER = {
        **settings.LTI_PROVIDER,
        "OUTCOME_TIMEOUT": TIMEOUT,
        "ALLOW_INSECURE_OUTCOME_URLS": True,
        "ALLOW_PRIVATE_OUTCOME_HOSTS": True,
    }

    class Prompt(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b'{"keys": []}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serve_on_loopback(Prompt) as httpd, GuardedSession() as session:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        # Two requests on one kept-alive connection, each within its own deadline.
        assert session.get(url).json() == {"keys": []}
        time.sleep(TIMEOUT / 2)
        assert session.get(url).json() == {"keys": []}
