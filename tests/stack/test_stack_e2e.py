"""End to end against the running stack (issue 9): several processes, one truth.

Web servers A and B are two gunicorn masters (2 workers each) on their own
ports; the reviewer stand-in is a third; one Celery worker consumes the
Redis broker; PostgreSQL, Redis and moto's S3 server hold the shared state.

Idempotency of the tasks run twice is also covered, in process, by
``tests/verify_student/test_tasks.py::test_missing_or_decided_attempts_are_left_alone``,
``tests/verify_student/test_results_callback.py::test_callback_is_idempotent_and_checkpoints_get_one_row``
and ``tests/lti_provider/test_tasks.py`` (superseded versions are never sent).
"""

from __future__ import annotations

import json
import os
import re
import struct
import threading
import uuid
import zlib
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY, Client

from tests.lti_provider.outcome_server import outcome_server_fixture  # noqa: F401
from tests.stack.conftest import STACK_DIR, Stack, form_token, wait_until
from verify_student import ssencrypt

pytestmark = [
    pytest.mark.stack,
    pytest.mark.skipif(not os.environ.get("STACK_URL"), reason="needs `make stack` (STACK_URL)"),
]

OPEN_CONSUMER = "Demo open consumer"  # no account required: a launch creates the user
BLOCK = "block-v1:DemoX+Verify101+2026+type@problem+block@quiz1"
CALLBACK = '"POST /verify_student/results_callback HTTP/1.1" 200'
SUBMISSION = '"POST /verify_student/software-secure-fake-response/ HTTP/1.1" 200'
RSA_PRIVATE_KEY = Path(__file__).resolve().parents[2] / "demo" / "keys" / "rsa_test_private.pem"


def png(width: int, height: int, seed: int) -> bytes:
    """A real (tiny, noisy) PNG image, different for each seed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + bytes((x * 7 + y * 13 + seed) % 256 for x in range(width * 3))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def signed_launch(stack: Stack, server: str, **extra: str) -> tuple[str, dict[str, str]]:
    """A launch signed by oauthlib (as a consumer would) for the URL on ``server``."""
    consumer = stack.consumer(OPEN_CONSUMER)
    url = f"{stack.url(server)}/lti_provider/courses/{stack.demo['course_id']}/{BLOCK}"
    params = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": "quiz1",
        "context_id": stack.demo["course_id"],
        "user_id": f"stack-{uuid.uuid4().hex[:12]}",
        "roles": "Learner",
        **extra,
    }
    client = Client(
        consumer["key"],
        client_secret=consumer["secret"],
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_BODY,
    )
    _uri, _headers, body = client.sign(
        url,
        http_method="POST",
        body=params,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return url, dict(parse_qsl(body, keep_blank_values=True))


def post_launch(
    stack: Stack, to: str, url: str, fields: dict[str, str], session: requests.Session | None = None
) -> requests.Response:
    """POST a launch signed for ``url`` to server ``to``.

    The Host header stays the signed URL's, as behind a load balancer: each
    web process rebuilds the same URL, so only the nonce can tell a replay.
    """
    host = url.split("/")[2]
    path = url.split(host, 1)[1]
    return (session or requests).post(
        f"{stack.url(to)}{path}",
        data=fields,
        headers={"Host": host},
        allow_redirects=False,
        timeout=30,
    )


# -- the processes --------------------------------------------------------------------------
def children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != "Z":
                found.append(int(proc.name))
    return found


def listening_ports() -> dict[int, str]:
    """Listening TCP sockets: port -> local address (IPv4 and IPv6)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A":  # LISTEN
                address, port = local.rsplit(":", 1)
                found[int(port, 16)] = address
    return found


def test_four_web_workers_a_reviewer_and_a_celery_worker_on_loopback_only(stack: Stack) -> None:
    pids = {
        path.stem: json.loads(path.read_text())["pid"]
        for path in (STACK_DIR / "pids").glob("*.pid")
    }
    assert set(pids) == {"redis", "moto", "web_a", "web_b", "reviewer", "worker"}
    assert [len(children(pids[name])) for name in ("web_a", "web_b", "reviewer")] == [2, 2, 1]
    assert len(children(pids["worker"])) == 2  # the prefork pool
    listening = listening_ports()
    for name, port in stack.ports.items():
        assert listening.get(port) == "0100007F", f"{name} does not listen on 127.0.0.1 only"


# -- verification: web A -> worker -> reviewer -> callback on web B -> approved --------------
def test_photos_submitted_on_a_are_reviewed_and_approved_through_b(stack: Stack) -> None:
    learner = stack.login(stack.url("web_a"), "learner")
    face, photo_id = png(32, 24, seed=1), png(40, 30, seed=2)
    callbacks_before = stack.log("web_b.access").count(CALLBACK)

    response = learner.post(
        f"{stack.url('web_a')}/verify_student/submit-photos/",
        files={
            "face_image": ("face.png", face, "image/png"),
            "photo_id_image": ("id.png", photo_id, "image/png"),
        },
        headers={"X-CSRFToken": learner.cookies["csrftoken"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    receipt_id = response.json()["receipt_id"]

    def approved() -> dict | None:
        status = learner.get(f"{stack.url('web_b')}/verify_student/status/", timeout=10).json()
        return status if status["status"] == "approved" else None

    status = wait_until("the attempt to be approved", approved, timeout=90)
    assert status["is_verified"] is True
    [(attempt_id, attempt_status, photo_id_key)] = stack.sql(
        "SELECT id, status, photo_id_key FROM verify_student_softwaresecurephotoverification "
        "WHERE receipt_id = %s",
        receipt_id,
    )
    assert attempt_status == "approved"

    # The worker (not a web process) ran the submission, taken from the broker.
    worker_log = stack.log("worker")
    assert re.search(
        r"Task verify_student\.tasks\.send_request_to_ss_for_user\[[-0-9a-f]+\] "
        r"succeeded in [0-9.]+s: 'submitted'",
        worker_log,
    )
    assert stack.log("reviewer.access").count(SUBMISSION) >= 1
    # The reviewer's signed callback landed on web B, and not on A.
    assert stack.log("web_b.access").count(CALLBACK) == callbacks_before + 1
    assert CALLBACK not in stack.log("web_a.access")
    assert f"Results callback: receipt {receipt_id} -> approved" in stack.log("web_b")

    # The photos in S3 are ciphertext: not the images, yet they decrypt to them.
    s3 = stack.s3()
    from stack.layout import S3_BUCKET

    stored = {
        name: s3.get_object(Bucket=S3_BUCKET, Key=f"{name}/{receipt_id}")["Body"].read()
        for name in ("face", "photo_id")
    }
    for name, image in (("face", face), ("photo_id", photo_id)):
        assert not stored[name].startswith(b"\x89PNG")
        assert image not in stored[name] and image[8:40] not in stored[name]
    face_key = bytes.fromhex((STACK_DIR / "demo" / "face_aes_key").read_text())
    assert ssencrypt.decode_and_decrypt(stored["face"], face_key) == face
    id_key = ssencrypt.rsa_decrypt(
        ssencrypt.decode_key_text(photo_id_key), RSA_PRIVATE_KEY.read_text()
    )
    assert ssencrypt.decode_and_decrypt(stored["photo_id"], id_key) == photo_id

    # The same task delivered again by the broker (a redelivery) changes nothing:
    # the worker answers the attempt's status and sends nothing to the reviewer.
    submissions = stack.log("reviewer.access").count(SUBMISSION)
    result = stack.celery().send_task(
        "verify_student.tasks.send_request_to_ss_for_user", args=[attempt_id]
    )
    assert result.get(timeout=60) == "approved"
    assert stack.log("reviewer.access").count(SUBMISSION) == submissions
    assert stack.sql(
        "SELECT status FROM verify_student_softwaresecurephotoverification WHERE id = %s",
        attempt_id,
    ) == [("approved",)]


# -- LTI: the nonce store is shared by every web process --------------------------------------
def test_a_launch_replayed_to_another_process_is_refused(stack: Stack) -> None:
    replays_seen = stack.log("web_b").count("LTI launch replayed")
    url, fields = signed_launch(stack, "web_a")
    first = post_launch(stack, "web_a", url, fields)
    assert first.status_code == 200, first.text[:500]
    replayed = post_launch(stack, "web_b", url, fields)
    assert replayed.status_code == 403
    assert stack.log("web_b").count("LTI launch replayed") == replays_seen + 1
    # B does accept a fresh launch signed for the same URL: the 403 was the nonce.
    url, fields = signed_launch(stack, "web_a")
    assert post_launch(stack, "web_b", url, fields).status_code == 200


def test_one_launch_sent_to_two_processes_at_once_is_accepted_once(stack: Stack) -> None:
    url, fields = signed_launch(stack, "web_a")
    statuses: dict[str, int] = {}
    start = threading.Barrier(2)

    def send(server: str) -> None:
        start.wait(timeout=10)
        statuses[server] = post_launch(stack, server, url, fields).status_code

    threads = [threading.Thread(target=send, args=(name,)) for name in ("web_a", "web_b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses.values()) == [200, 403], statuses


# -- LTI: a score change is passed back once, by the worker ----------------------------------
def test_a_score_change_is_passed_back_once_by_the_worker(stack: Stack, outcome_server) -> None:
    consumer = stack.consumer(OPEN_CONSUMER)
    outcome_server.secrets[consumer["key"]] = consumer["secret"]
    sourcedid = f"stack:{uuid.uuid4().hex}"
    url, fields = signed_launch(
        stack,
        "web_a",
        lis_outcome_service_url=outcome_server.url,
        lis_result_sourcedid=sourcedid,
    )
    browser = requests.Session()
    launched = post_launch(stack, "web_a", url, fields, session=browser)
    assert launched.status_code == 200, launched.text[:500]

    # The learner answers on web B (the session lives in PostgreSQL).
    answered = browser.post(
        f"{stack.url('web_b')}/lti/content/score/",
        data={
            "csrfmiddlewaretoken": form_token(launched.text),
            "course_id": stack.demo["course_id"],
            "usage_id": BLOCK,
            "points": "8",
        },
        timeout=30,
    )
    assert answered.status_code == 200, answered.text[:500]

    received = wait_until("the score at the outcome service", lambda: outcome_server.received)
    [delivery] = received
    assert delivery.signature_ok and delivery.body_hash_ok
    assert (delivery.sourcedid, delivery.score) == (sourcedid, "0.8")
    assert "lti_provider.tasks.send_leaf_outcome[" in stack.log("worker")

    [(assignment_id, version)] = stack.sql(
        "SELECT id, version_number FROM lti_provider_gradedassignment "
        "WHERE lis_result_sourcedid = %s",
        sourcedid,
    )
    # A task queued for an older score is dropped by the worker: nothing sent.
    stale = stack.celery().send_task(
        "lti_provider.tasks.send_leaf_outcome", args=[assignment_id, 3, 10, version - 1]
    )
    assert stale.get(timeout=60) is False
    # Nothing else arrives: the score went back exactly once.
    with pytest.raises(pytest.fail.Exception):
        wait_until("a second delivery", lambda: len(outcome_server.received) > 1, timeout=3)
    assert len(outcome_server.received) == 1
