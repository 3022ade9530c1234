"""Hypothesis profiles and fixtures for the reliability and security proofs.

Profiles: ``ci`` (500 examples per property) and ``dev`` (60). The
``HYPOTHESIS_PROFILE`` environment variable picks one; otherwise ``ci`` is
used when ``CI`` is true or when ``REQUIRE_POSTGRES=1`` (what ``.ci/run``
exports for ``make test``), and ``dev`` on a workstation.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from tests.factories import LtiConsumerFactory
from tests.verify_student.conftest import (  # noqa: F401  (the S3 and reviewer fixtures)
    moto_server,
    reviewer,
    s3_photos,
)

_COMMON = {
    "deadline": None,  # a request through the whole stack takes what it takes
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    "derandomize": False,
    "database": None,  # no .hypothesis directory in the tree
}
settings.register_profile("ci", max_examples=500, **_COMMON)
settings.register_profile("dev", max_examples=60, **_COMMON)


def _profile() -> str:
    chosen = os.environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    return "ci" if in_ci or os.environ.get("REQUIRE_POSTGRES") == "1" else "dev"


settings.load_profile(_profile())

# Recognised by tests/log_guard.py ("consumer-secret"), so a leak fails the test.
CONSUMER_SECRET = "consumer-secret-security-7f3a"
OTHER_SECRET = "consumer-secret-other-91c2"


@pytest.fixture
def consumer(db):
    return LtiConsumerFactory(
        consumer_key="security-key", consumer_secret=CONSUMER_SECRET, instance_guid=None
    )


@pytest.fixture
def other_consumer(db):
    return LtiConsumerFactory(
        consumer_key="other-key", consumer_secret=OTHER_SECRET, instance_guid=None
    )


@pytest.fixture
def login_page(settings):
    """A ``registration/login.html`` for Django's LoginView (the suite has none)."""
    import copy
    from pathlib import Path

    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [Path(__file__).resolve().parent / "templates", *templates[0]["DIRS"]]
    settings.TEMPLATES = templates
