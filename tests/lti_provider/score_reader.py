"""A host's ``LTI_PROVIDER['SCORE_READER']`` for the tests: scores set by the test."""

from __future__ import annotations

import pytest

#: (user_id, str(usage_key)) -> (earned, possible)
SCORES: dict[tuple[int, str], tuple[float, float]] = {}
#: Every call, for assertions.
CALLS: list[tuple[int, str, str]] = []

PATH = "tests.lti_provider.score_reader.read_score"


def read_score(user_id, course_key, usage_key):
    CALLS.append((user_id, str(course_key), str(usage_key)))
    return SCORES.get((user_id, str(usage_key)))


@pytest.fixture(name="score_reader")
def score_reader_fixture(settings):
    """Install ``read_score`` as the hook; yields ``SCORES`` to fill."""
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "SCORE_READER": PATH}
    SCORES.clear()
    CALLS.clear()
    yield SCORES
    SCORES.clear()
    CALLS.clear()
