"""A real LTI outcome service on 127.0.0.1 for the passback tests.

It checks what the provider sends independently of our code: the XML is
parsed with lxml, ``oauth_body_hash`` is recomputed (base64 SHA-1 of the
body) and the OAuth1 HMAC-SHA1 signature is recomputed from oauthlib's
RFC 5849 signature-base-string functions and ``hmac``; the request is also
checked by Open edX's own outcome handler code (``verify_oauth_body_signature``
of lti-consumer-xblock), as an Open edX consumer would. It records what it
received (``User-Agent`` included) and answers what it is told: ``success``,
``failure`` (or any other codeMajor), an HTTP status (``500``, ``404``,
``302``...) or ``close`` (drops the connection without answering).

Use it by importing the fixture into a test module::

    from tests.lti_provider.outcome_server import outcome_server_fixture  # noqa: F401
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

import pytest
from lxml import etree
from oauthlib.oauth1.rfc5849 import signature, utils

from tests.local_server import serve_on_loopback

NS = {"ns": "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"}

# Open edX's verifier logs the OAuth header (signature included) when a check fails.
_openedx_log = logging.getLogger("lti_consumer")
_openedx_log.addHandler(logging.NullHandler())
_openedx_log.propagate = False

REPLY = """<?xml version="1.0" encoding="UTF-8"?>
<imsx_POXEnvelopeResponse xmlns="http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0">
  <imsx_POXHeader><imsx_POXResponseHeaderInfo>
    <imsx_version>V1.0</imsx_version>
    <imsx_messageIdentifier>reply-1</imsx_messageIdentifier>
    <imsx_statusInfo>
      <imsx_codeMajor>{code}</imsx_codeMajor>
      <imsx_severity>status</imsx_severity>
      <imsx_description>{description}</imsx_description>
      <imsx_messageRefIdentifier>{ref}</imsx_messageRefIdentifier>
      <imsx_operationRefIdentifier>replaceResult</imsx_operationRefIdentifier>
    </imsx_statusInfo>
  </imsx_POXResponseHeaderInfo></imsx_POXHeader>
  <imsx_POXBody><replaceResultResponse/></imsx_POXBody>
</imsx_POXEnvelopeResponse>
"""


@dataclass
class Received:
    """One request the server got, with the results of its independent checks."""

    path: str
    content_type: str
    body: bytes
    oauth: dict[str, str]
    body_hash_ok: bool
    signature_ok: bool
    openedx_verified: bool = False
    user_agent: str = ""
    sourcedid: str | None = None
    score: str | None = None
    message_identifier: str | None = None


@dataclass
class OutcomeServer:
    """The consumer's side: secrets by consumer key, a script of answers, a log."""

    secrets: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    script: deque[str] = field(default_factory=deque)
    default: str = "success"
    port: int = 0
    #: The imsx_description of a refusal (XML-escaped when sent).
    refusal_description: str = "Refused by test"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/outcomes/"

    def answer(self, *actions: str) -> None:
        """Answer the next requests with ``actions`` in turn, then ``default``."""
        self.script.extend(actions)

    def next_action(self) -> str:
        return self.script.popleft() if self.script else self.default

    def check(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Received:
        # collect_parameters unescapes the header's values (and drops realm).
        oauth = dict(
            signature.collect_parameters(
                headers={"Authorization": headers.get("Authorization", "")},
                exclude_oauth_signature=False,
            )
        )
        expected_hash = base64.b64encode(hashlib.sha1(body).digest()).decode()  # noqa: S324
        secret = self.secrets.get(oauth.get("oauth_consumer_key", ""))
        signature_ok = secret is not None and self._signature_ok(method, path, oauth, secret)
        received = Received(
            path=path,
            content_type=headers.get("Content-Type", ""),
            body=body,
            oauth=oauth,
            body_hash_ok=oauth.get("oauth_body_hash") == expected_hash,
            signature_ok=signature_ok,
            openedx_verified=secret is not None
            and self._openedx_verifies(method, path, headers, body, secret),
            user_agent=headers.get("User-Agent", ""),
        )
        try:
            root = etree.fromstring(body)
        except etree.XMLSyntaxError:
            return received
        received.sourcedid = root.findtext(".//ns:sourcedId", namespaces=NS)
        received.score = root.findtext(".//ns:resultScore/ns:textString", namespaces=NS)
        received.message_identifier = root.findtext(".//ns:imsx_messageIdentifier", namespaces=NS)
        return received

    def _signature_ok(self, method: str, path: str, oauth: dict[str, str], secret: str) -> bool:
        if oauth.get("oauth_signature_method") != "HMAC-SHA1":
            return False
        uri = f"http://127.0.0.1:{self.port}{path}"
        # RFC 5849 3.4.1.3: the query's parameters and the header's oauth_* ones.
        params = [
            *signature.collect_parameters(uri_query=urlsplit(uri).query),
            *((k, v) for k, v in oauth.items() if k not in ("oauth_signature", "realm")),
        ]
        base_string = signature.signature_base_string(
            method, signature.base_string_uri(uri), signature.normalize_parameters(params)
        )
        key = f"{utils.escape(secret)}&".encode()
        expected = base64.b64encode(
            hmac.new(key, base_string.encode(), hashlib.sha1).digest()
        ).decode()
        return hmac.compare_digest(expected, oauth.get("oauth_signature", ""))

    def _openedx_verifies(
        self, method: str, path: str, headers: dict[str, str], body: bytes, secret: str
    ) -> bool:
        """What Open edX's LTI consumer checks before it takes a score."""
        from lti_consumer.lti_1p1.exceptions import Lti1p1Error
        from lti_consumer.lti_1p1.oauth import verify_oauth_body_signature

        url = f"http://127.0.0.1:{self.port}{path}"
        request = _WebobLike(method, url, headers, body)
        try:
            return bool(verify_oauth_body_signature(request, secret, url))
        except (Lti1p1Error, KeyError, ValueError):
            return False


@dataclass
class _WebobLike:
    """The attributes of a webob request that Open edX's verifier reads."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


def _handler(server_state: OutcomeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            received = server_state.check("POST", self.path, dict(self.headers.items()), body)
            server_state.received.append(received)
            action = server_state.next_action()
            if action == "close":
                self.close_connection = True
                return
            if action.isdigit():
                status, payload = int(action), b"error"
            else:
                code = action
                description = (
                    "Score updated"
                    if code == "success"
                    else xml_escape(server_state.refusal_description)
                )
                payload = REPLY.format(
                    code=code, description=description, ref=received.message_identifier
                ).encode()
                status = 200
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", server_state.url + "redirected")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture(name="outcome_server")
def outcome_server_fixture():
    """A running ``OutcomeServer`` on a free 127.0.0.1 port."""
    state = OutcomeServer()
    with serve_on_loopback(_handler(state), quiet_errors=True) as httpd:
        state.port = httpd.server_address[1]
        yield state


@pytest.fixture(name="closed_port_url")
def closed_port_url_fixture():
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/outcomes/"


@pytest.fixture(name="outcome_service")
def outcome_service_fixture(db, outcome_server):
    """An ``OutcomeService`` pointing at ``outcome_server``, which knows its consumer's secret."""
    from tests.factories import LtiConsumerFactory, OutcomeServiceFactory

    consumer = LtiConsumerFactory()
    outcome_server.secrets[consumer.consumer_key] = consumer.consumer_secret
    return OutcomeServiceFactory(lti_consumer=consumer, lis_outcome_service_url=outcome_server.url)


@pytest.fixture(name="assignment")
def assignment_fixture(outcome_service):
    """A ``GradedAssignment`` on a problem, sent to ``outcome_server``."""
    from tests.factories import GradedAssignmentFactory

    return GradedAssignmentFactory(outcome_service=outcome_service)
