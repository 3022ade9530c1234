"""Fixtures shared by every suite.

Real components only: moto's S3 server (``moto_server``) on a free
127.0.0.1 port, real HTTP servers on 127.0.0.1 for peers, PostgreSQL when
``DATABASE_URL`` names it.
"""

import logging
import socket

import pytest
from celery import Celery
from django.db import connection

from tests import celery_app, log_guard
from tests.factories import StaffFactory, UserFactory


def pytest_collection_modifyitems(config, items):
    """Skip ``@pytest.mark.postgres`` tests unless the database is PostgreSQL."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff_user(db):
    return StaffFactory()


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def eager_retries():
    """Let eager tasks retry for real.

    With ``task_eager_propagates`` (tests/settings.py) ``self.retry()`` raises
    ``Retry`` out of ``apply()``, so nothing is retried; without it, ``apply()``
    re-runs the task for each retry, synchronously (countdowns are not waited).
    """
    conf = celery_app.app.conf
    previous = conf.task_eager_propagates
    conf.task_eager_propagates = False
    yield
    conf.task_eager_propagates = previous


@pytest.fixture
def celery_broker_down():
    """The host's Celery app, not eager, with a broker that refuses connections.

    A second app made current and default for the test (the shared tasks bind
    to it), pointed at a 127.0.0.1 port that is bound but not listening.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = Celery("host-with-broker-down", broker=f"amqp://guest:guest@127.0.0.1:{port}//")
        app.conf.task_always_eager = False
        app.set_current()
        app.set_default()
        try:
            yield app
        finally:
            celery_app.app.set_current()
            celery_app.app.set_default()
            app.close()


# -- no secret, key, signature or image bytes in any log record ---------------------------
@pytest.fixture(autouse=True)
def no_secrets_in_logs(request):
    """Fail any test during which a log record shows a secret, a signature or image bytes."""
    handler = log_guard.RecordAll()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    if request.node.get_closest_marker("logs_secrets_on_purpose"):
        return
    leaks = log_guard.find_leaks(handler.records)
    assert not leaks, "secrets in log records:\n" + "\n".join(leaks)
