"""`make load`: 2,000 signed LTI launches and 2,000 signed results callbacks, concurrency 16.

Against a real server process (gunicorn, 4 workers x 4 threads) on 127.0.0.1
with PostgreSQL (a fresh database, ``LOAD_DATABASE_URL`` or ``PG_URL``'s
server + ``_load``). Seeds consumers, learners and submitted attempts, sends
the requests with one ``requests.Session`` per thread, then checks: no 5xx
and no transport error, every answer 200, every callback's decision in the
database, one ``LtiUser`` per identity, no secret in the server's log.
Prints requests, errors, p50/p99 latency and throughput; exits non-zero on
any failure or when the run exceeds ``LOAD_DEADLINE`` seconds (600). The
server is stopped by its pid whatever happens.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parents[2]
LAUNCHES = int(os.environ.get("LOAD_LAUNCHES", "2000"))
CALLBACKS = int(os.environ.get("LOAD_CALLBACKS", "2000"))
CONCURRENCY = int(os.environ.get("LOAD_CONCURRENCY", "16"))
DEADLINE = float(os.environ.get("LOAD_DEADLINE", "600"))
IDENTITIES = 500
CONSUMERS = 4
COURSE_ID = "course-v1:Load+Course+Run"
USAGE_ID = "block-v1:Load+Course+Run+type@problem+block@p1"
FORM = "application/x-www-form-urlencoded"


def database_url() -> str:
    if os.environ.get("LOAD_DATABASE_URL"):
        return os.environ["LOAD_DATABASE_URL"]
    base = os.environ.get("PG_URL", "postgres://postgres:postgres@127.0.0.1:5432/verify_lti")
    return base.rsplit("/", 1)[0] + "/verify_lti_load"


def recreate_database(url: str) -> None:
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(server + "/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_django() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.load.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


def seed() -> tuple[list, dict[str, str]]:
    """Consumers (recognisable secrets) and submitted attempts with the decision each gets."""
    from django.contrib.auth import get_user_model

    from lti_provider.models import LtiConsumer
    from verify_student.models import SoftwareSecurePhotoVerification

    consumers = [
        LtiConsumer.objects.create(
            consumer_name=f"Load consumer {i}",
            consumer_key=f"load-key-{i}",
            consumer_secret=f"consumer-secret-load-{i}",
        )
        for i in range(CONSUMERS)
    ]
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        user_model(username=f"load-{i}", email=f"load-{i}@example.com") for i in range(CALLBACKS)
    )
    attempts = SoftwareSecurePhotoVerification.objects.bulk_create(
        SoftwareSecurePhotoVerification(user=user, status="submitted", name="Load")
        for user in users
    )
    decisions = {a.receipt_id: ("PASS" if i % 2 else "FAIL") for i, a in enumerate(attempts)}
    return consumers, decisions


def start_server(port: int, log_path: Path, db_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.load.settings",
        "LOAD_DATABASE_URL": db_url,
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = log_path.open("w")
    process = subprocess.Popen(
        [
            str(gunicorn),
            "django.core.wsgi:get_wsgi_application()",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "4",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # Wait for the real process to answer (bounded: its workers may boot slowly on a busy
    # machine, so a first request that times out is waited for like a refused one).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}: see {log_path}")
        try:
            requests.get(f"http://127.0.0.1:{port}/lti_provider/lti13/jwks.json", timeout=2)
            return process
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer within 60 s: see {log_path}")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def launch_request(base: str, consumer, index: int) -> tuple[str, dict]:
    from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY, Client

    url = f"{base}/lti_provider/courses/{COURSE_ID}/{USAGE_ID}"
    params = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": f"link-{index % 10}",
        "context_id": "load-context",
        "user_id": f"load-learner-{index % IDENTITIES}",
        "roles": "Learner",
    }
    client = Client(
        consumer.consumer_key,
        client_secret=consumer.consumer_secret,
        signature_type=SIGNATURE_TYPE_BODY,
        signature_method=SIGNATURE_HMAC_SHA1,
    )
    _uri, _headers, body = client.sign(
        url, http_method="POST", body=urlencode(params), headers={"Content-Type": FORM}
    )
    return url, {"data": body, "headers": {"Content-Type": FORM}}


def callback_request(base: str, receipt_id: str, result: str) -> tuple[str, dict]:
    from verify_student import ssencrypt
    from verify_student.conf import app_settings

    body = {
        "EdX-ID": receipt_id,
        "Result": result,
        "Reason": "blurry photo" if result == "FAIL" else "",
        "MessageType": "",
    }
    date = formatdate(usegmt=True)
    _m, _s, authorization = ssencrypt.generate_signed_message(
        "POST", {"Date": date}, body, app_settings.api_access_key, app_settings.api_secret_key
    )
    headers = {"Content-Type": "application/json", "Date": date, "Authorization": authorization}
    return f"{base}/verify_student/results_callback", {"data": json.dumps(body), "headers": headers}


def run(jobs: list[tuple[str, str, dict]]) -> list[tuple[str, int, float]]:
    """POST every job at CONCURRENCY; (kind, status or -1 for a transport error, seconds)."""
    local = threading.local()

    def send(job: tuple[str, str, dict]) -> tuple[str, int, float]:
        kind, url, kwargs = job
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        session.cookies.clear()  # each launch comes from another browser
        started = time.perf_counter()
        try:
            status = session.post(url, timeout=30, **kwargs).status_code
        except requests.RequestException:
            status = -1
        return kind, status, time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        return list(pool.map(send, jobs))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(results: list[tuple[str, int, float]], seconds: float) -> list[str]:
    failures = []
    print(f"{'kind':<10}{'requests':>10}{'5xx':>6}{'other':>7}{'p50 ms':>9}{'p99 ms':>9}")
    for kind in ("launch", "callback", "all"):
        rows = [r for r in results if kind in ("all", r[0])]
        latencies = [r[2] * 1000 for r in rows]
        server_errors = sum(1 for r in rows if r[1] >= 500 or r[1] == -1)
        other = sum(1 for r in rows if r[1] != 200) - server_errors
        print(
            f"{kind:<10}{len(rows):>10}{server_errors:>6}{other:>7}"
            f"{statistics.median(latencies):>9.1f}{percentile(latencies, 0.99):>9.1f}"
        )
        if kind != "all" and (server_errors or other):
            failures.append(f"{kind}: {server_errors} 5xx/transport errors, {other} other non-200")
    print(f"duration {seconds:.1f} s, throughput {len(results) / seconds:.0f} requests/s")
    return failures


def check_database(decisions: dict[str, str]) -> list[str]:
    from lti_provider.models import LtiUser
    from verify_student.models import SoftwareSecurePhotoVerification

    failures = []
    expected = {r: ("approved" if d == "PASS" else "denied") for r, d in decisions.items()}
    landed = dict(SoftwareSecurePhotoVerification.objects.values_list("receipt_id", "status"))
    missing = [r for r, status in expected.items() if landed.get(r) != status]
    if missing:
        failures.append(f"{len(missing)} callback decisions not in the database")
    identities = min(IDENTITIES, LAUNCHES)
    if LtiUser.objects.count() != identities:
        failures.append(f"{LtiUser.objects.count()} LtiUsers for {identities} identities")
    return failures


def check_log(log_path: Path, consumers) -> list[str]:
    from verify_student.conf import app_settings

    text = log_path.read_text(errors="replace")
    secrets = [c.consumer_secret for c in consumers] + [app_settings.api_secret_key]
    leaked = [s for s in secrets if s in text] + (
        ["oauth_signature="] if "oauth_signature=" in text else []
    )
    return [f"secrets in the server log: {leaked}"] if leaked else []


def main() -> int:
    started = time.monotonic()
    db_url = database_url()
    os.environ["LOAD_DATABASE_URL"] = db_url
    recreate_database(db_url)
    setup_django()
    consumers, decisions = seed()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.gettempdir()) / f"verify_lti_load_server_{port}.log"
    jobs = [("launch", *launch_request(base, consumers[i % CONSUMERS], i)) for i in range(LAUNCHES)]
    jobs += [("callback", *callback_request(base, r, d)) for r, d in decisions.items()]
    # Interleaved, so launches and callbacks share the server at once.
    launches, callbacks = jobs[:LAUNCHES], jobs[LAUNCHES:]
    jobs = [job for pair in zip(launches, callbacks, strict=False) for job in pair]
    jobs += launches[len(callbacks) :] + callbacks[len(launches) :]
    process = start_server(port, log_path, db_url)
    try:
        print(
            f"== load: {LAUNCHES} launches + {CALLBACKS} callbacks, concurrency {CONCURRENCY}, "
            f"gunicorn pid {process.pid} on {base}"
        )
        run_started = time.perf_counter()
        results = run(jobs)
        seconds = time.perf_counter() - run_started
    finally:
        stop_server(process)
    failures = report(results, seconds)
    failures += check_database(decisions)
    failures += check_log(log_path, consumers)
    total = time.monotonic() - started
    print(f"total (with setup) {total:.1f} s")
    if total > DEADLINE:
        failures.append(f"the run took {total:.0f} s, over the {DEADLINE:.0f} s budget")
    for failure in failures:
        print("FAIL:", failure)
    print("== load: OK" if not failures else "== load: FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
