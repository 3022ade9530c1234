"""Real S3 for the photo tests: moto's S3 server on 127.0.0.1, used through boto3.

``moto_server`` starts the ``moto_server`` console script once per session on
a port the OS picks; ``s3_photos`` gives each test a fresh bucket and points
``VERIFY_STUDENT['SOFTWARE_SECURE']['STORAGE_KWARGS']`` at it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from Crypto.Cipher import AES, PKCS1_OAEP
from Crypto.PublicKey import RSA
from Crypto.Util.Padding import unpad
from django.http import HttpResponse
from django.urls import path

RSA_PRIVATE_KEY_PATH = Path(__file__).resolve().parent.parent / "data" / "rsa_test_private.pem"
MOTO_SERVER = Path(sys.executable).with_name("moto_server")
_STARTUP_TIMEOUT = 60  # seconds; waited on an event, not slept
_RUNNING_ON = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")
S3_CREDENTIALS = {"access_key": "testing", "secret_key": "testing", "region_name": "us-east-1"}


@dataclass
class MotoServer:
    endpoint_url: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto's S3 server on a free 127.0.0.1 port, for the whole session."""
    process = subprocess.Popen(
        [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    output: list[str] = []
    port: list[int] = []
    started = threading.Event()

    def drain() -> None:
        # Werkzeug logs every request on stderr: keep reading so the pipe never fills.
        assert process.stderr is not None
        for line in process.stderr:
            output.append(line)
            match = _RUNNING_ON.search(line)
            if match and not started.is_set():
                port.append(int(match.group(1)))
                started.set()
        started.set()  # the process ended: stop waiting

    threading.Thread(target=drain, name="moto-server-stderr", daemon=True).start()
    try:
        if not started.wait(_STARTUP_TIMEOUT) or not port:
            pytest.fail(f"moto_server did not start:\n{''.join(output)[-2000:]}")
        server = MotoServer(f"http://127.0.0.1:{port[0]}", process, output)
        # It answers (any HTTP status will do) before a test relies on it.
        requests.get(server.endpoint_url, timeout=10)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port bound but not listening: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@dataclass
class S3Photos:
    """A fresh bucket on the moto server, with a real boto3 client to inspect it."""

    endpoint_url: str
    bucket: str
    client: Any

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def object_keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))


def s3_client(endpoint_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=S3_CREDENTIALS["access_key"],
        aws_secret_access_key=S3_CREDENTIALS["secret_key"],
        region_name=S3_CREDENTIALS["region_name"],
    )


def point_storage_at(settings: Any, **storage_kwargs: Any) -> None:
    """Replace ``SOFTWARE_SECURE``'s STORAGE_KWARGS entries (a deep copy, restored after)."""
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    config["SOFTWARE_SECURE"].setdefault("STORAGE_KWARGS", {}).update(storage_kwargs)
    settings.VERIFY_STUDENT = config


@pytest.fixture
def s3_photos(moto_server: MotoServer, settings: Any) -> S3Photos:
    """A new bucket for this test; the app's storage settings point at it."""
    bucket = f"photos-{uuid.uuid4().hex[:16]}"
    client = s3_client(moto_server.endpoint_url)
    client.create_bucket(Bucket=bucket)
    point_storage_at(
        settings,
        endpoint_url=moto_server.endpoint_url,
        bucket_name=bucket,
        **S3_CREDENTIALS,
    )
    return S3Photos(moto_server.endpoint_url, bucket, client)


# -- the review service: a real HTTP server on 127.0.0.1 -------------------------------


def reviewer_signing_message(headers: Any, body: dict[str, Any]) -> str:
    """The signed text, rebuilt from the wire-format spec (not from ssencrypt).

    ``POST\\n\\n``, then the Content-Type and Date values each followed by a
    newline, then one ``key:value\\n`` line per body key in sorted order
    (the submission body is flat; None would be ``null``).
    """
    lines = [
        f"{headers[name]}\n" for name in ("Content-Type", "Date", "Content-MD5") if name in headers
    ]
    for key in sorted(body):
        value = body[key]
        assert not isinstance(value, dict | list), "the submission body must be flat"
        lines.append(f"{key}:{'null' if value is None else value}\n")
    return "POST\n\n" + "".join(lines)


def reviewer_signature(secret_key: str, message: str) -> str:
    mac = hmac.new(secret_key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def reviewer_open_key(key_text: str) -> bytes:
    """Unseal an AES key sent as MIME base64 of RSA-OAEP(SHA-1), with the private test key."""
    private_key = RSA.import_key(RSA_PRIVATE_KEY_PATH.read_text())
    return PKCS1_OAEP.new(private_key).decrypt(base64.b64decode(key_text))


def reviewer_decrypt(stored: bytes, aes_key: bytes) -> bytes:
    """Reverse the photo encoding: URL-safe base64 of AES-256-CBC, IV derived from the key."""
    inner = hashlib.md5(aes_key).hexdigest().encode("ascii")  # noqa: S324 - wire format
    iv = hashlib.md5(aes_key + inner).hexdigest()[:16].encode("ascii")  # noqa: S324
    cipher = AES.new(aes_key, AES.MODE_CBC, iv)
    return unpad(cipher.decrypt(base64.urlsafe_b64decode(stored)), AES.block_size)


@dataclass
class ReceivedSubmission:
    """One request the reviewer got, and what it could make of it."""

    headers: dict[str, str]
    raw_body: bytes
    body: dict[str, Any]
    signature_ok: bool
    face_image: bytes | None = None
    photo_id_image: bytes | None = None
    photo_error: str = ""


class FakeReviewer:
    """The review service: checks the signature, decrypts the photos, answers as told."""

    def __init__(self, secret_key: str, ssl_context: ssl.SSLContext | None = None) -> None:
        self.secret_key = secret_key
        self.received: list[ReceivedSubmission] = []
        self.status = 200
        self.text = "OK"
        self.extra_headers: dict[str, str] = {}
        self.behaviour = "answer"  # or "hang" / "close"
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _ReviewerHandler)
        self.server.daemon_threads = True
        self.server.reviewer = self  # type: ignore[attr-defined]
        self.scheme = "http"
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}/submit"

    def answer(self, status: int, text: str = "", headers: dict[str, str] | None = None) -> None:
        self.behaviour, self.status, self.text = "answer", status, text
        self.extra_headers = dict(headers or {})

    def hang(self) -> None:
        """Read the request, then answer nothing until the test ends."""
        self.behaviour = "hang"

    def close_connection(self) -> None:
        """Read the request, then close the connection without an answer."""
        self.behaviour = "close"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def receive(self, headers: dict[str, str], raw_body: bytes) -> ReceivedSubmission:
        body = json.loads(raw_body.decode("utf-8"))
        expected = reviewer_signature(self.secret_key, reviewer_signing_message(headers, body))
        access_key = SOFTWARE_SECURE_ACCESS_KEY
        signature_ok = headers.get("Authorization") == f"SSI {access_key}:{expected}"
        received = ReceivedSubmission(headers, raw_body, body, signature_ok)
        try:
            face_key = reviewer_open_key(body["UserPhotoKey"])
            photo_id_key = reviewer_open_key(body["PhotoIDKey"])
            face = requests.get(body["UserPhoto"], timeout=10)
            photo_id = requests.get(body["PhotoID"], timeout=10)
            face.raise_for_status()
            photo_id.raise_for_status()
            received.face_image = reviewer_decrypt(face.content, face_key)
            received.photo_id_image = reviewer_decrypt(photo_id.content, photo_id_key)
        except (KeyError, ValueError, requests.RequestException) as exc:
            received.photo_error = f"{type(exc).__name__}: {exc}"
        self.received.append(received)
        return received


class _ReviewerHandler(BaseHTTPRequestHandler):
    server: Any

    def do_POST(self) -> None:
        reviewer: FakeReviewer = self.server.reviewer
        raw_body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        received = reviewer.receive(dict(self.headers.items()), raw_body)
        if reviewer.behaviour == "hang":
            reviewer.release.wait(timeout=60)
            return
        if reviewer.behaviour == "close":
            self.close_connection = True
            return
        if not received.signature_ok:
            status, text = 401, "bad signature"
        else:
            status, text = reviewer.status, reviewer.text
        payload = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reviewer.extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


def start_reviewer(
    settings: Any,
    ssl_context: ssl.SSLContext | None = None,
    reviewer_class: type[FakeReviewer] = FakeReviewer,
) -> FakeReviewer:
    """Start a reviewer and point API_URL and the API keys at it (stop it when done)."""
    server = reviewer_class(SOFTWARE_SECURE_SECRET_KEY, ssl_context)
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    config["SOFTWARE_SECURE"].update(
        API_URL=server.url,
        API_ACCESS_KEY=SOFTWARE_SECURE_ACCESS_KEY,
        API_SECRET_KEY=SOFTWARE_SECURE_SECRET_KEY,
    )
    settings.VERIFY_STUDENT = config
    server.start()
    return server


SOFTWARE_SECURE_ACCESS_KEY = "reviewer-access-key"
SOFTWARE_SECURE_SECRET_KEY = "reviewer-secret-ünïcødé"


def waiting_on_a_lock() -> int:
    """PostgreSQL: how many connections to the test database wait on a lock now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return int(cursor.fetchone()[0])


class CallbackOnlyUrls:
    """A urlconf naming only the results callback: the submission builds its URL."""

    urlpatterns = [
        path(
            "verify_student/results_callback",
            lambda request: HttpResponse(),
            name="verify_student_results_callback",
        )
    ]


@pytest.fixture
def callback_only_urlconf(settings: Any) -> None:
    """For tests of the submission that must not depend on the app's views."""
    settings.ROOT_URLCONF = CallbackOnlyUrls


@pytest.fixture
def reviewer(settings: Any) -> Iterator[FakeReviewer]:
    """A running review service; API_URL and the API keys point at it."""
    server = start_reviewer(settings)
    yield server
    server.stop()
