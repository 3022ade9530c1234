"""lti_provider.tasks: delivery, retries (Celery eager: retries really re-run), versions."""

import pytest
from celery import current_app
from django.core.exceptions import ImproperlyConfigured

from lti_provider import outcomes, tasks
from lti_provider.exceptions import InvalidOutcomeURL, OutcomeError, OutcomeServiceUnavailable
from lti_provider.models import GradedAssignment
from tests.factories import GradedAssignmentFactory
from tests.lti_provider.outcome_server import (  # noqa: F401  (fixtures)
    assignment_fixture,
    closed_port_url_fixture,
    outcome_server_fixture,
    outcome_service_fixture,
)
from tests.lti_provider.score_reader import CALLS, score_reader_fixture  # noqa: F401

VERTICAL = "block-v1:Org+Course+Run+type@vertical+block@v1"


@pytest.fixture(autouse=True)
def eager_retries():
    """Let eager tasks retry for real.

    With ``task_eager_propagates`` (tests/settings.py) ``self.retry()`` raises
    ``Retry`` straight out of ``apply()``, so nothing is retried. Without it,
    ``apply()`` re-runs the task for each retry, synchronously (countdown
    ignored), and the final failure is kept in the result: ``get()`` raises it.
    """
    conf = current_app.conf
    previous = conf.task_eager_propagates
    conf.task_eager_propagates = False
    yield
    conf.task_eager_propagates = previous


@pytest.fixture
def max_retries(settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "OUTCOME_MAX_RETRIES": 2}
    return 2


def _bump(assignment, to):
    GradedAssignment.objects.filter(pk=assignment.pk).update(version_number=to)


# --- send_leaf_outcome ----------------------------------------------------------------


def test_leaf_outcome_is_delivered(assignment, outcome_server):
    result = tasks.send_leaf_outcome.delay(assignment.pk, 3, 4, 0)
    assert result.get() is True
    assert result.state == "SUCCESS"
    [received] = outcome_server.received
    assert (received.sourcedid, received.score) == (assignment.lis_result_sourcedid, "0.75")
    assert received.signature_ok and received.body_hash_ok


def test_leaf_outcome_with_nothing_possible_sends_zero(assignment, outcome_server):
    tasks.send_leaf_outcome.delay(assignment.pk, 0, 0, 0).get()
    assert [r.score for r in outcome_server.received] == ["0.0"]


def test_leaf_outcome_of_a_superseded_version_is_not_sent(assignment, outcome_server):
    _bump(assignment, 2)
    assert tasks.send_leaf_outcome.delay(assignment.pk, 1, 1, 1).get() is False
    assert outcome_server.received == []


def test_an_older_score_never_overwrites_a_newer_one(assignment, outcome_server):
    # Two changes queued: 0.2 with version 1, then 0.9 with version 2; the
    # newer task runs first (queues do not keep order), the older one is dropped.
    _bump(assignment, 2)
    assert tasks.send_leaf_outcome.delay(assignment.pk, 9, 10, 2).get() is True
    assert tasks.send_leaf_outcome.delay(assignment.pk, 2, 10, 1).get() is False
    assert [r.score for r in outcome_server.received] == ["0.9"]


def test_a_retry_is_dropped_once_a_newer_score_is_queued(assignment, outcome_server, monkeypatch):
    real_send = outcomes.send_score_update
    calls = []

    def send_then_superseded(a, score):
        calls.append(score)
        _bump(a, a.version_number + 1)  # a newer score is queued meanwhile
        raise OutcomeServiceUnavailable("HTTP 503")

    monkeypatch.setattr(outcomes, "send_score_update", send_then_superseded)
    assert tasks.send_leaf_outcome.delay(assignment.pk, 1, 2, 0).get() is False
    assert calls == [0.5]  # the retry saw the newer version and sent nothing
    monkeypatch.setattr(outcomes, "send_score_update", real_send)
    assert outcome_server.received == []


def test_leaf_outcome_of_a_deleted_assignment_is_dropped(assignment, outcome_server):
    pk = assignment.pk
    assignment.delete()
    assert tasks.send_leaf_outcome.delay(pk, 1, 1, 0).get() is False
    assert outcome_server.received == []


def test_leaf_outcome_without_a_version_always_sends(assignment, outcome_server):
    _bump(assignment, 5)
    assert tasks.send_leaf_outcome.delay(assignment.pk, 1, 1).get() is True
    assert len(outcome_server.received) == 1


# --- retries --------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["500", "503", "429", "close"])
def test_transient_failures_are_retried_then_delivered_once(
    assignment, outcome_server, max_retries, failure
):
    outcome_server.answer(failure, failure)
    result = tasks.send_leaf_outcome.delay(assignment.pk, 1, 2, 0)
    assert result.get() is True
    assert len(outcome_server.received) == 3
    # Every attempt carries the same score, each signed afresh.
    assert {r.score for r in outcome_server.received} == {"0.5"}
    assert len({r.oauth["oauth_nonce"] for r in outcome_server.received}) == 3
    assert all(r.signature_ok for r in outcome_server.received)


def test_retries_are_bounded_then_the_task_gives_up(
    assignment, outcome_server, max_retries, caplog
):
    outcome_server.default = "500"
    with pytest.raises(OutcomeServiceUnavailable, match="HTTP 500"):
        tasks.send_leaf_outcome.delay(assignment.pk, 1, 2, 0).get()
    assert len(outcome_server.received) == max_retries + 1
    assert f"giving up on assignment {assignment.pk} after 2 retries" in caplog.text


def test_network_down_retries_are_bounded(assignment, closed_port_url, max_retries, caplog):
    service = assignment.outcome_service
    service.lis_outcome_service_url = closed_port_url
    service.save()
    with pytest.raises(OutcomeServiceUnavailable, match="could not be reached"):
        tasks.send_leaf_outcome.delay(assignment.pk, 1, 2, 0).get()
    assert "after 2 retries" in caplog.text


def test_no_retries_when_max_retries_is_zero(assignment, outcome_server, settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "OUTCOME_MAX_RETRIES": 0}
    outcome_server.answer("500")
    with pytest.raises(OutcomeServiceUnavailable):
        tasks.send_leaf_outcome.delay(assignment.pk, 1, 2, 0).get()
    assert len(outcome_server.received) == 1


@pytest.mark.parametrize("answer", ["failure", "unsupported", "400", "404"])
def test_permanent_failures_are_not_retried(assignment, outcome_server, max_retries, answer):
    outcome_server.answer(answer)
    with pytest.raises(OutcomeError) as info:
        tasks.send_leaf_outcome.delay(assignment.pk, 1, 2, 0).get()
    assert not isinstance(info.value, OutcomeServiceUnavailable)
    assert len(outcome_server.received) == 1


def test_an_invalid_url_is_not_retried(assignment, outcome_server, settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "ALLOW_INSECURE_OUTCOME_URLS": False}
    with pytest.raises(InvalidOutcomeURL, match="must use https"):
        tasks.send_leaf_outcome.delay(assignment.pk, 1, 2, 0).get()
    assert outcome_server.received == []


def test_a_score_above_possible_is_refused_not_retried(assignment, outcome_server):
    with pytest.raises(ValueError, match="between 0 and 1"):
        tasks.send_leaf_outcome.delay(assignment.pk, 5, 2, 0).get()
    assert outcome_server.received == []


def test_retry_countdown_doubles_and_is_capped(settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "OUTCOME_RETRY_BACKOFF": 30}
    assert [tasks.retry_countdown(n) for n in range(4)] == [30, 60, 120, 240]
    assert tasks.retry_countdown(20) == tasks.MAX_RETRY_COUNTDOWN


def test_the_retry_is_scheduled_with_the_backoff(assignment, outcome_server, monkeypatch):
    """Outside eager mode the countdown matters: check what retry() is asked for."""
    seen = {}

    def fake_retry(**kwargs):
        seen.update(kwargs)
        return RuntimeError("retry scheduled")

    outcome_server.answer("503")
    monkeypatch.setattr(tasks.send_leaf_outcome, "retry", fake_retry)
    with pytest.raises(RuntimeError, match="retry scheduled"):
        tasks.send_leaf_outcome.delay(assignment.pk, 1, 2, 0).get()
    assert seen["countdown"] == 30
    assert seen["max_retries"] == 5
    assert isinstance(seen["exc"], OutcomeServiceUnavailable)


# --- send_composite_outcome -----------------------------------------------------------


@pytest.fixture
def composite(outcome_service):
    return GradedAssignmentFactory(outcome_service=outcome_service, usage_key=VERTICAL)


def test_composite_outcome_sends_the_score_read_from_the_host(
    composite, outcome_server, score_reader
):
    score_reader[(composite.user_id, VERTICAL)] = (3, 12)
    args = (composite.user_id, str(composite.course_key), composite.pk, 0)
    assert tasks.send_composite_outcome.delay(*args).get() is True
    assert [r.score for r in outcome_server.received] == ["0.25"]
    assert [(composite.user_id, "course-v1:Org+Course+Run", VERTICAL)] == CALLS


def test_composite_outcome_without_a_score_sends_nothing(composite, outcome_server, score_reader):
    args = (composite.user_id, str(composite.course_key), composite.pk, 0)
    assert tasks.send_composite_outcome.delay(*args).get() is False
    assert outcome_server.received == []


def test_composite_outcome_of_a_superseded_version_reads_nothing(
    composite, outcome_server, score_reader
):
    score_reader[(composite.user_id, VERTICAL)] = (1, 1)
    _bump(composite, 3)
    args = (composite.user_id, str(composite.course_key), composite.pk, 2)
    assert tasks.send_composite_outcome.delay(*args).get() is False
    assert CALLS == []
    assert outcome_server.received == []


def test_composite_outcome_is_retried_on_5xx(composite, outcome_server, score_reader, max_retries):
    score_reader[(composite.user_id, VERTICAL)] = (1, 1)
    outcome_server.answer("502")
    args = (composite.user_id, str(composite.course_key), composite.pk, 0)
    assert tasks.send_composite_outcome.delay(*args).get() is True
    assert [r.score for r in outcome_server.received] == ["1.0", "1.0"]


def test_composite_outcome_needs_the_score_reader(composite, outcome_server):
    args = (composite.user_id, str(composite.course_key), composite.pk, 0)
    with pytest.raises(ImproperlyConfigured, match="SCORE_READER"):
        tasks.send_composite_outcome.delay(*args).get()
    assert outcome_server.received == []
