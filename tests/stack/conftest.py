"""The running stack (``make stack``), as the end-to-end tests see it from outside.

Everything is reached the way a peer would: HTTP to a chosen gunicorn server,
boto3 to moto's S3 server, SQL to PostgreSQL, Celery's client to the Redis
broker. Where the stack is comes from ``.stack/stack.json`` (ports) and
``.stack/demo.json`` (logins and consumer keys), written by ``stack.run``.
The tests are skipped unless ``STACK_URL`` is set (``make stack-test``).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

STACK_DIR = Path(os.environ.get("STACK_DIR") or Path(__file__).resolve().parents[2] / ".stack")
HOST = "127.0.0.1"
T = TypeVar("T")


def wait_until(
    what: str, probe: Callable[[], T | None], timeout: float = 60.0, every: float = 0.2
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@dataclass
class Stack:
    ports: dict[str, int]
    demo: dict[str, Any]

    def url(self, name: str) -> str:
        return f"http://{HOST}:{self.ports[name]}"

    def log(self, name: str) -> str:
        path = STACK_DIR / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def consumer(self, name: str) -> dict[str, Any]:
        return next(c for c in self.demo["consumers"] if c["name"] == name)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        from stack.layout import PG_DATABASE, PG_URL

        with psycopg.connect(PG_URL.rsplit("/", 1)[0] + "/" + PG_DATABASE) as conn:
            return conn.execute(query, params).fetchall()

    def s3(self) -> Any:
        import boto3

        from stack.layout import S3_CREDENTIALS

        return boto3.client(
            "s3",
            endpoint_url=self.url("moto"),
            aws_access_key_id=S3_CREDENTIALS["access_key"],
            aws_secret_access_key=S3_CREDENTIALS["secret_key"],
            region_name=S3_CREDENTIALS["region_name"],
        )

    def celery(self) -> Any:
        """A Celery client on the stack's broker and result backend (not a worker)."""
        from celery import Celery

        redis = f"redis://{HOST}:{self.ports['redis']}"
        return Celery("stack-test", broker=f"{redis}/1", backend=f"{redis}/2")

    def login(self, base: str, username: str) -> requests.Session:
        """A browser session logged in through the login form of server ``base``."""
        session = requests.Session()
        session.get(f"{base}/accounts/login/", timeout=10).raise_for_status()
        response = session.post(
            f"{base}/accounts/login/",
            data={
                "username": username,
                "password": self.demo["logins"][username],
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "next": "/",
            },
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, response.text[:500]
        assert "sessionid" in session.cookies
        return session


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if not os.environ.get("STACK_URL"):
        pytest.skip("the stack is not running (make stack && make stack-test)")
    state = json.loads((STACK_DIR / "stack.json").read_text())
    demo = json.loads((STACK_DIR / "demo.json").read_text())
    found = Stack(ports=state["ports"], demo=demo)
    assert found.url("web_a") == os.environ["STACK_URL"].rstrip("/")
    yield found


def form_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
