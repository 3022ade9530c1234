"""score_changed -> lti_provider.handlers: versions raised now, passback queued on commit."""

import logging

import pytest
from django.db import transaction
from opaque_keys.edx.keys import CourseKey, UsageKey

from lti_provider import handlers, tasks
from lti_provider.signals import score_changed
from tests.factories import GradedAssignmentFactory, UserFactory
from tests.lti_provider.outcome_server import (  # noqa: F401  (fixtures)
    assignment_fixture,
    outcome_server_fixture,
    outcome_service_fixture,
)
from tests.lti_provider.score_reader import score_reader_fixture  # noqa: F401

COURSE = "course-v1:Org+Course+Run"
PROBLEM = "block-v1:Org+Course+Run+type@problem+block@p1"
VERTICAL = "block-v1:Org+Course+Run+type@vertical+block@v1"


def send(assignment, earned, possible, **overrides):
    kwargs = {
        "user_id": assignment.user_id,
        "course_id": COURSE,
        "usage_id": PROBLEM,
        "weighted_earned": earned,
        "weighted_possible": possible,
        **overrides,
    }
    score_changed.send(sender=None, **kwargs)


def test_the_receiver_is_connected_by_the_app_config():
    receivers = [entry[1]() for entry in score_changed.receivers]
    assert handlers.score_changed_handler in receivers


def test_nothing_is_queued_before_commit(
    assignment, outcome_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        send(assignment, 3, 4)
        assert outcome_server.received == []
    assert len(callbacks) == 1
    assert outcome_server.received == []

    callbacks[0]()
    [received] = outcome_server.received
    assert (received.sourcedid, received.score) == (assignment.lis_result_sourcedid, "0.75")
    assert received.signature_ok and received.body_hash_ok


def test_the_version_is_raised_when_the_score_is_queued(
    assignment, outcome_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(assignment, 1, 2)
    assignment.refresh_from_db()
    assert assignment.version_number == 1
    assert [r.score for r in outcome_server.received] == ["0.5"]


def test_nothing_is_queued_when_the_transaction_rolls_back(
    assignment, outcome_server, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        send(assignment, 1, 2)
        raise RuntimeError("the host's view failed")
    assert callbacks == []
    assert outcome_server.received == []
    assignment.refresh_from_db()
    assert assignment.version_number == 0


def test_of_two_changes_only_the_newer_score_is_sent(
    assignment, outcome_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        send(assignment, 2, 10)
        send(assignment, 9, 10)
    # Run in reverse: the older task runs last and must not overwrite.
    for callback in reversed(callbacks):
        callback()
    assert [r.score for r in outcome_server.received] == ["0.9"]
    for callback in callbacks:
        callback()
    assert [r.score for r in outcome_server.received] == ["0.9", "0.9"]


def test_composite_assignments_are_queued_with_the_delay(
    outcome_service,
    outcome_server,
    score_reader,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    settings.LTI_AGGREGATE_SCORE_PASSBACK_DELAY = 120
    user = UserFactory()
    leaf = GradedAssignmentFactory(user=user, outcome_service=outcome_service)
    vertical = GradedAssignmentFactory(
        user=user, outcome_service=outcome_service, usage_key=VERTICAL
    )
    score_reader[(user.pk, VERTICAL)] = (5, 10)
    queued = []
    real_apply_async = tasks.send_composite_outcome.apply_async

    def apply_async(args, **options):
        queued.append((args, options))
        return real_apply_async(args, **options)

    monkeypatch.setattr(tasks.send_composite_outcome, "apply_async", apply_async)
    with django_capture_on_commit_callbacks(execute=True):
        send(leaf, 1, 4)

    assert queued == [((user.pk, COURSE, vertical.pk, 1), {"countdown": 120})]
    assert tasks.send_composite_outcome.name == "lti_provider.tasks.send_composite_outcome"
    scores = {r.sourcedid: r.score for r in outcome_server.received}
    assert scores == {leaf.lis_result_sourcedid: "0.25", vertical.lis_result_sourcedid: "0.5"}


def test_keys_may_be_sent_as_opaque_keys(
    assignment, outcome_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(
            assignment,
            1,
            1,
            course_id=CourseKey.from_string(COURSE),
            usage_id=UsageKey.from_string(PROBLEM),
        )
    assert [r.score for r in outcome_server.received] == ["1.0"]


def test_other_learners_and_blocks_are_not_sent(
    assignment, outcome_server, django_capture_on_commit_callbacks
):
    other = UserFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        send(assignment, 1, 1, user_id=other.pk)
        send(assignment, 1, 1, usage_id="block-v1:Org+Course+Run+type@problem+block@p9")
    assert callbacks == []
    assignment.refresh_from_db()
    assert assignment.version_number == 0


@pytest.mark.parametrize(
    "missing", ["user_id", "course_id", "usage_id", "weighted_earned", "weighted_possible"]
)
def test_a_signal_missing_an_argument_is_logged_and_ignored(
    assignment, caplog, missing, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        send(assignment, 1, 1, **{missing: None})
    assert callbacks == []
    assert f"score_changed without ['{missing}']" in caplog.text


def test_a_signal_with_an_invalid_key_is_logged_and_ignored(
    assignment, caplog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        send(assignment, 1, 1, course_id="not a course")
    assert callbacks == []
    assert "invalid key" in caplog.text


def test_a_broker_failure_does_not_break_the_host(
    assignment, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.send_leaf_outcome, "apply_async", broker_down)
    caplog.set_level(logging.ERROR)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        send(assignment, 1, 1)  # no exception reaches the host
    assert len(callbacks) == 1
    assert "broker unreachable" in caplog.text


# -- where the passback runs: the host's Celery, in-process, or not yet -------------------
@pytest.fixture
def in_process(settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "USE_CELERY": False}


def test_use_celery_false_sends_in_process_after_commit(
    assignment, outcome_server, in_process, celery_broker_down, django_capture_on_commit_callbacks
):
    # The broker is down as well: only an in-process run reaches the outcome service.
    with django_capture_on_commit_callbacks(execute=True):
        send(assignment, 3, 4)
    [received] = outcome_server.received
    assert received.score == "0.75" and received.signature_ok


def test_in_process_a_failing_outcome_service_is_logged_once_not_raised(
    assignment, outcome_server, in_process, django_capture_on_commit_callbacks, caplog
):
    outcome_server.answer("503")
    with (
        caplog.at_level(logging.WARNING, "lti_provider"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        send(assignment, 1, 2)
    assert len(outcome_server.received) == 1  # no retries in the request
    assert "resend_lti_scores" in caplog.text


def test_in_process_a_composite_score_is_sent_at_once(
    assignment, outcome_server, in_process, score_reader, django_capture_on_commit_callbacks
):
    vertical = GradedAssignmentFactory(
        user=assignment.user,
        outcome_service=assignment.outcome_service,
        course_key=CourseKey.from_string(COURSE),
        usage_key=UsageKey.from_string(VERTICAL),
    )
    score_reader[(vertical.user_id, VERTICAL)] = (2, 8)
    with django_capture_on_commit_callbacks(execute=True):
        send(vertical, 1, 1)
    # The problem's own score, and the vertical's read through the score reader,
    # at once: in-process there is no LTI_AGGREGATE_SCORE_PASSBACK_DELAY to wait.
    assert sorted(r.score for r in outcome_server.received) == ["0.25", "1.0"]


def test_a_broker_that_refuses_is_logged_and_the_request_goes_on(
    assignment, outcome_server, celery_broker_down, django_capture_on_commit_callbacks, caplog
):
    with (
        caplog.at_level(logging.WARNING, "lti_provider"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        send(assignment, 1, 2)
    assert outcome_server.received == []
    assert "broker is unreachable" in caplog.text
    assert "resend_lti_scores" in caplog.text


def test_use_celery_must_be_a_bool_or_none(settings):
    from django.core.exceptions import ImproperlyConfigured

    from lti_provider.conf import app_settings

    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "USE_CELERY": "no"}
    with pytest.raises(ImproperlyConfigured, match="USE_CELERY"):
        app_settings.use_celery


def test_without_a_host_celery_app_passbacks_run_in_process(monkeypatch):
    import threading

    import celery._state

    monkeypatch.setattr(celery._state, "default_app", None)
    answers = []
    thread = threading.Thread(target=lambda: answers.append(tasks.uses_celery()))
    thread.start()
    thread.join()
    assert answers == [False]
    assert tasks.uses_celery()  # the tests' own app, in this thread
