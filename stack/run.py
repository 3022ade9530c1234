"""Start, stop and list the scale-out stack, on 127.0.0.1 only.

    python -m stack.run start    # `make stack`
    python -m stack.run status
    python -m stack.run stop     # `make stack-stop`

``start`` uses PostgreSQL where it already answers (else starts Debian's
cluster, and ``stop`` stops it again), creates the stack's database afresh,
and starts redis-server, moto's S3 server, two gunicorn web servers (A and B,
2 workers each), a gunicorn serving the reviewer stand-in and one Celery
worker. Each is started in a session of its own; its pid goes to
``.stack/pids/`` and its output to ``.stack/logs/``. ``stop`` ends each
process group it started, by that pid, and waits until none is left.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stack.layout import (
    BASE_DIR,
    HOST,
    PG_DATABASE,
    PG_URL,
    S3_BUCKET,
    S3_CREDENTIALS,
    STACK_DIR,
    STATE_FILE,
    url,
)

BIN = Path(sys.executable).parent
LOGS = STACK_DIR / "logs"
PIDS = STACK_DIR / "pids"
START_TIMEOUT = 60.0  # seconds, per process
STOP_TIMEOUT = 20.0
#: Started in this order, stopped in the reverse one.
ORDER = ["redis", "moto", "web_a", "web_b", "reviewer", "worker"]


class StackError(Exception):
    """The stack could not be started; the message says which part and why."""


def log(message: str) -> None:
    print(f"[stack] {message}", flush=True)


# -- processes ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="stack.settings",
        STACK_DIR=str(STACK_DIR),
        PYTHONPATH=os.pathsep.join(filter(None, [str(BASE_DIR), env.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    return env


#: What this ``start`` spawned, to see a child exit while it starts.
STARTED: dict[str, subprocess.Popen[bytes]] = {}


def spawn(name: str, argv: list[str]) -> int:
    """Start ``argv`` in its own session (its pid is its process group), output to a log."""
    with (LOGS / f"{name}.log").open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 (our own command lines)
            argv,
            cwd=BASE_DIR,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    STARTED[name] = process
    (PIDS / f"{name}.pid").write_text(json.dumps({"pid": process.pid, "argv0": argv[0]}))
    return process.pid


def read_pid(name: str) -> tuple[int, str] | None:
    path = PIDS / f"{name}.pid"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return int(data["pid"]), str(data["argv0"])


def alive(pid: int, argv0: str) -> bool:
    """Whether ``pid`` still runs the program we started (not a recycled pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if not cmdline:
        return False  # a zombie
    return Path(argv0).name.encode() in cmdline.split(b"\0")[0] or argv0.encode() in cmdline


def group_alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` is left (zombies excepted)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            return True
    return False


def wait_for(what: str, check: Callable[[], bool], name: str | None = None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        if name is not None and STARTED[name].poll() is not None:
            raise StackError(f"{what} exited while starting:\n{tail(name)}")
        time.sleep(0.2)
    raise StackError(f"{what} did not start within {START_TIMEOUT:.0f}s:\n{tail(name)}")


def tail(name: str | None, lines: int = 30) -> str:
    if name is None or not (LOGS / f"{name}.log").exists():
        return ""
    text = (LOGS / f"{name}.log").read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def http_ok(address: str) -> Callable[[], bool]:
    import requests

    def check() -> bool:
        try:
            return requests.get(address, timeout=2).status_code < 500
        except requests.RequestException:
            return False

    return check


def run_python(*args: str, what: str) -> None:
    """Run this venv's Python with ``args`` in the project; ``StackError`` naming ``what``."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise StackError(f"{what} failed:\n{result.stdout}{result.stderr}")


def manage(*args: str) -> None:
    run_python("manage.py", *args, what=f"manage.py {' '.join(args)}")


# -- the parts ----------------------------------------------------------------------------
def start_postgres(state: dict[str, Any]) -> None:
    import psycopg

    def reachable() -> bool:
        try:
            psycopg.connect(PG_URL, connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False

    if not reachable():
        cluster = _debian_cluster()
        if cluster is None:
            raise StackError(f"PostgreSQL does not answer at {PG_URL} and no cluster exists.")
        log(f"starting PostgreSQL cluster {' '.join(cluster)}")
        subprocess.run(["pg_ctlcluster", *cluster, "start"], check=False)  # noqa: S603, S607
        state["pg_cluster_started"] = cluster
        STATE_FILE.write_text(json.dumps(state, indent=2))  # so a failed start stops it
        wait_for("PostgreSQL", reachable)
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    log(f"PostgreSQL: database {PG_DATABASE} created afresh")


def _debian_cluster() -> list[str] | None:
    if not shutil.which("pg_lsclusters"):
        return None
    out = subprocess.run(
        ["pg_lsclusters", "--no-header"],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return out[:2] if len(out) >= 2 else None


def start_redis(state: dict[str, Any]) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError("redis-server is not installed (apt-get install redis-server).")
    data = STACK_DIR / "redis"
    data.mkdir(exist_ok=True)
    port = state["ports"]["redis"]
    spawn(
        "redis",
        [
            binary,
            "--bind", HOST,
            "--port", str(port),
            "--dir", str(data),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--daemonize", "no",
        ],
    )  # fmt: skip

    def pong() -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_for("redis-server", pong, "redis")


def start_moto(state: dict[str, Any]) -> None:
    import boto3

    port = state["ports"]["moto"]
    spawn("moto", [str(BIN / "moto_server"), "-H", HOST, "-p", str(port)])
    wait_for("moto_server", http_ok(url(state, "moto")), "moto")
    boto3.client(
        "s3",
        endpoint_url=url(state, "moto"),
        aws_access_key_id=S3_CREDENTIALS["access_key"],
        aws_secret_access_key=S3_CREDENTIALS["secret_key"],
        region_name=S3_CREDENTIALS["region_name"],
    ).create_bucket(Bucket=S3_BUCKET)


def prepare_database() -> None:
    manage("migrate", "--noinput", "-v", "0")
    manage("check", "--deploy", "--fail-level", "ERROR")
    run_python("-m", "stack.seed", what="seeding")


def start_gunicorn(state: dict[str, Any], name: str, workers: int) -> None:
    port = state["ports"][name]
    spawn(
        name,
        [
            str(BIN / "gunicorn"),
            "--bind", f"{HOST}:{port}",
            "--workers", str(workers),
            "--name", f"stack-{name}",
            "--access-logfile", str(LOGS / f"{name}.access.log"),
            "--timeout", "60",
            "--graceful-timeout", "10",
            "stack.wsgi:application",
        ],
    )  # fmt: skip
    wait_for(f"gunicorn {name}", http_ok(url(state, name) + "/"), name)


def start_worker() -> None:
    spawn(
        "worker",
        [
            str(BIN / "celery"),
            "-A", "stack.celery_app",
            "worker",
            "--loglevel", "INFO",
            "--concurrency", "2",
            "--hostname", f"stack@{HOST}",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ],
    )  # fmt: skip
    wait_for("Celery worker", lambda: " ready." in tail("worker", 200), "worker")


# -- commands -----------------------------------------------------------------------------
def running() -> list[str]:
    return [name for name in ORDER if (found := read_pid(name)) and alive(*found)]


def start() -> int:
    if running():
        log(f"already running: {', '.join(running())} (make stack-stop first)")
        return 1
    began = time.monotonic()
    for path in (LOGS, PIDS):
        path.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    state: dict[str, Any] = {"ports": {name: free_port() for name in ORDER if name != "worker"}}
    STATE_FILE.write_text(json.dumps(state, indent=2))
    try:
        start_postgres(state)
        STATE_FILE.write_text(json.dumps(state, indent=2))
        start_redis(state)
        start_moto(state)
        prepare_database()
        start_gunicorn(state, "web_a", 2)
        start_gunicorn(state, "web_b", 2)
        start_gunicorn(state, "reviewer", 1)
        start_worker()
    except (StackError, OSError) as exc:
        log(f"start failed: {exc}")
        stop()
        return 1
    log(f"up in {time.monotonic() - began:.1f}s")
    status()
    return 0


def stop() -> int:
    left, ended = [], []
    for name in reversed(ORDER):
        found = read_pid(name)
        if found is None:
            continue
        pid, argv0 = found
        ended.append(pid)
        if alive(pid, argv0) or group_alive(pid):
            _end_group(name, pid)
        if group_alive(pid):
            left.append(name)
        else:
            (PIDS / f"{name}.pid").unlink()
    state = json.loads(STATE_FILE.read_text()) if STATE_FILE.exists() else {}
    cluster = state.pop("pg_cluster_started", None)
    if cluster:
        log(f"stopping PostgreSQL cluster {' '.join(cluster)} (started by the stack)")
        subprocess.run(["pg_ctlcluster", *cluster, "stop"], check=False)  # noqa: S603, S607
        STATE_FILE.write_text(json.dumps(state, indent=2))
    if left:
        log(f"still running: {', '.join(left)}")
        return 1
    _wait_reaped(ended)
    log("stopped")
    return 0


def _wait_reaped(pids: list[int], timeout: float = 10.0) -> None:
    """Give init a moment to reap our ended processes, so `ps` shows no zombie either."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.1)


def _end_group(name: str, pgid: int) -> None:
    """SIGTERM the group we started (a graceful stop), SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                log(f"{name} (pid {pgid}) stopped")
                return
            time.sleep(0.1)
        log(f"{name} (pid {pgid}) ignored {sig.name}")


def status() -> int:
    state = json.loads(STATE_FILE.read_text()) if STATE_FILE.exists() else {"ports": {}}
    up = running()
    for name in ORDER:
        found = read_pid(name)
        where = url(state, name) if name in state["ports"] else ""
        if found is None:
            print(f"  {name:9} -")
        else:
            print(f"  {name:9} pid {found[0]:<7} {'up  ' if name in up else 'DOWN'} {where}")
    return 0 if len(up) == len(ORDER) else 1


def web_url() -> int:
    if not STATE_FILE.exists():
        return 1
    print(url(json.loads(STATE_FILE.read_text()), "web_a"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.run", description=__doc__)
    parser.add_argument("command", choices=["start", "stop", "status", "url"])
    command = parser.parse_args(argv).command
    return {"start": start, "stop": stop, "status": status, "url": web_url}[command]()


if __name__ == "__main__":
    sys.exit(main())
