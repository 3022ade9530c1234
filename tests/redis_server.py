"""A real ``redis-server`` for a test, on a free 127.0.0.1 port, started and stopped by the test.

Debian's ``redis-server`` (``.ci/run`` installs it before ``make test``).
Without it the tests that need it are skipped with the reason, except in CI
(``CI`` true or ``REQUIRE_POSTGRES=1``), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

_STARTUP_TIMEOUT = 30.0


def in_ci() -> bool:
    return (
        os.environ.get("CI", "").lower() in ("1", "true", "yes")
        or os.environ.get("REQUIRE_POSTGRES") == "1"
    )


def redis_server_binary() -> str:
    """The ``redis-server`` to run; skips (or fails, in CI) when there is none."""
    found = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    if not found and os.path.exists("/usr/bin/redis-server"):
        found = "/usr/bin/redis-server"
    if not found:
        message = "redis-server is not installed (apt-get install redis-server)"
        if in_ci():
            pytest.fail(message + ": CI must run the Redis tests")
        pytest.skip(message)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(port: int, *args: str) -> bytes:
    """One inline command to the server (RESP inline protocol); its reply line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall((" ".join(args) + "\r\n").encode())
        return sock.recv(65536)


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args: str) -> bytes:
        return _command(self.port, *args)

    def flush(self) -> None:
        assert self.command("FLUSHALL").startswith(b"+OK")

    def info(self, section: str = "stats") -> dict[str, str]:
        reply = self.command("INFO", section).decode()
        return dict(
            line.split(":", 1) for line in reply.splitlines() if ":" in line and line[0] != "#"
        )


@contextmanager
def running_redis(*options: str) -> Iterator[RedisServer]:
    """``redis-server`` with no persistence and ``options`` (e.g. ``--maxmemory 2mb``)."""
    binary = redis_server_binary()
    port = _free_port()
    base = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*base, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while True:
            try:
                if _command(port, "PING").startswith(b"+PONG"):
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield RedisServer(port, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
