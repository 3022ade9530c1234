"""Celery tasks sending scores to LTI consumers (1.1 ``replaceResult``, 1.3 AGS scores).

Network errors, 5xx, 408 and 429 are retried with exponential backoff, at
most ``LTI_PROVIDER['OUTCOME_MAX_RETRIES']`` times; any other failure (a 4xx,
a refused URL, a ``failure`` codeMajor) is logged and not retried. Each task
carries the assignment version it was queued with and does nothing once a
newer score has been queued.

``queue_or_run`` sends a task to the host's Celery app, or runs it in this
process when there is none (``LTI_PROVIDER['USE_CELERY']``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app, shared_task
from celery.exceptions import Retry
from kombu.exceptions import OperationalError

from . import ags, outcomes
from .conf import app_settings
from .exceptions import OutcomeError, OutcomeServiceUnavailable
from .models import GradedAssignment, Lti13GradedAssignment

logger = logging.getLogger(__name__)

#: The longest wait between two attempts, in seconds.
MAX_RETRY_COUNTDOWN = 60 * 60


def retry_countdown(retries: int) -> int:
    """Seconds before attempt ``retries + 1``: backoff, doubled at each retry, capped."""
    return int(min(app_settings.outcome_retry_backoff * (2**retries), MAX_RETRY_COUNTDOWN))


def _send(
    task: Task, assignment: GradedAssignment | Lti13GradedAssignment, send: Any, *args: Any
) -> bool:
    try:
        return bool(send(*args))
    except OutcomeServiceUnavailable as exc:
        max_retries = app_settings.outcome_max_retries
        if task.request.retries >= max_retries:
            logger.error(
                "Outcome Service: giving up on assignment %s after %s retries.",
                assignment.pk,
                task.request.retries,
            )
        raise task.retry(
            exc=exc, countdown=retry_countdown(task.request.retries), max_retries=max_retries
        ) from exc


@shared_task(bind=True, name="lti_provider.tasks.send_leaf_outcome")
def send_leaf_outcome(
    self: Task,
    assignment_id: int,
    points_earned: float,
    points_possible: float,
    version: int | None = None,
) -> bool:
    """Send the score of the block that changed (its points come with the signal).

    Returns False when the assignment is gone or a newer score superseded
    ``version``.
    """
    assignment = outcomes.current_assignment(assignment_id, version)
    if assignment is None:
        return False
    score = outcomes.weighted_score(points_earned, points_possible)
    return _send(self, assignment, outcomes.send_score_update, assignment, score)


@shared_task(bind=True, name="lti_provider.tasks.send_composite_outcome")
def send_composite_outcome(
    self: Task, user_id: int, course_id: str, assignment_id: int, version: int | None = None
) -> bool:
    """Send the score of a composite block (course, subsection...) read from the host.

    Queued ``LTI_AGGREGATE_SCORE_PASSBACK_DELAY`` after the change, so a burst
    of changes sends one score. ``user_id`` and ``course_id`` are kept for
    the original's signature; the assignment names both.
    """
    assignment = outcomes.current_assignment(assignment_id, version)
    if assignment is None:
        return False
    return _send(self, assignment, outcomes.send_composite_outcome, assignment)


@shared_task(bind=True, name="lti_provider.tasks.send_ags_leaf_score")
def send_ags_leaf_score(
    self: Task,
    assignment_id: int,
    points_earned: float,
    points_possible: float,
    version: int | None = None,
) -> bool:
    """LTI 1.3: send the changed block's score to its AGS line item (as ``send_leaf_outcome``)."""
    assignment = outcomes.current_assignment(assignment_id, version, Lti13GradedAssignment)
    if assignment is None:
        return False
    score = outcomes.weighted_score(points_earned, points_possible)
    return _send(self, assignment, ags.send_ags_score, assignment, score)


@shared_task(bind=True, name="lti_provider.tasks.send_ags_composite_score")
def send_ags_composite_score(
    self: Task, user_id: int, course_id: str, assignment_id: int, version: int | None = None
) -> bool:
    """LTI 1.3: send a composite block's score read from the host, as ``send_composite_outcome``."""
    assignment = outcomes.current_assignment(assignment_id, version, Lti13GradedAssignment)
    if assignment is None:
        return False
    return _send(self, assignment, ags.send_ags_composite_score, assignment)


# -- where a task runs -------------------------------------------------------------------
def host_has_celery_app() -> bool:
    """Whether the host made a Celery app (not Celery's own fallback to amqp://localhost)."""
    app = current_app._get_current_object()
    return not (app.main == "default" and app.set_as_current is False and not app.fixups)


def uses_celery() -> bool:
    """Tasks go to Celery: as ``USE_CELERY`` says, or when the host has a Celery app."""
    setting = app_settings.use_celery
    return host_has_celery_app() if setting is None else setting


def queue_or_run(task: Task, args: tuple[Any, ...], countdown: int | None = None) -> str:
    """Queue a passback on the host's Celery, or send it here, once; what happened.

    Returns ``"queued"``, ``"ran"``, or ``"not queued"`` when the broker cannot
    be reached (logged, not raised: the host's request has committed). In-process
    there is no countdown and no retry: a score the outcome service did not
    take is logged, and ``resend_lti_scores`` sends it again.
    """
    if uses_celery():
        try:
            task.apply_async(args, countdown=countdown)
        except OperationalError as exc:
            logger.warning(
                "Outcome Service: %s%r not queued, the Celery broker is unreachable (%s); "
                "resend_lti_scores sends the score later.",
                task.name,
                args,
                type(exc).__name__,
            )
            return "not queued"
        return "queued"
    try:
        task(*args)
    except (Retry, OutcomeError) as exc:
        logger.warning(
            "Outcome Service: %s%r sent in-process failed (%s); resend_lti_scores sends "
            "the score again.",
            task.name,
            args,
            type(exc).__name__,
        )
    return "ran"
