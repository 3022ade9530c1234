"""Where the stack keeps its state, and the ports it was started on.

``stack.run start`` picks free ports on 127.0.0.1 and writes them to
``.stack/stack.json``; the settings, the processes and the end-to-end test all
read that one file, so they agree on where everything is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
STACK_DIR = Path(os.environ.get("STACK_DIR") or BASE_DIR / ".stack")
STATE_FILE = STACK_DIR / "stack.json"
HOST = "127.0.0.1"

#: The PostgreSQL server (Debian's cluster) and the database the stack creates afresh.
PG_URL = os.environ.get("STACK_PG_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres")
PG_DATABASE = os.environ.get("STACK_PG_DATABASE", "verify_lti_stack")
S3_BUCKET = "verify-student-stack"
S3_CREDENTIALS = {"access_key": "testing", "secret_key": "testing", "region_name": "us-east-1"}

#: Fallback ports (only used when no stack.json exists, e.g. `manage.py check`).
DEFAULT_PORTS = {"web_a": 18701, "web_b": 18702, "reviewer": 18703, "redis": 18704, "moto": 18705}


def load_state() -> dict[str, Any]:
    """The running stack's description, or the defaults when none was started."""
    if STATE_FILE.exists():
        return json.loads(STATE_FILE.read_text())
    return {"ports": dict(DEFAULT_PORTS)}


def url(state: dict[str, Any], name: str) -> str:
    return f"http://{HOST}:{state['ports'][name]}"
