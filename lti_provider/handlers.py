"""Receivers: ``score_changed`` queues the passback once the score is committed; the
host's retirement signal (``LTI_PROVIDER["RETIREMENT_SIGNAL"]``) retires the user."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal, receiver
from django.test.signals import setting_changed
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey, UsageKey

from . import outcomes, tasks
from .conf import app_settings
from .models import Lti13GradedAssignment
from .signals import score_changed

logger = logging.getLogger(__name__)

_REQUIRED = ("user_id", "course_id", "usage_id", "weighted_earned", "weighted_possible")


@receiver(score_changed, dispatch_uid="lti_provider.handlers.score_changed_handler")
def score_changed_handler(sender: Any, **kwargs: Any) -> None:
    """Raise the versions of the affected assignments and queue their passback.

    The block's own assignments are sent at once with the signalled points;
    composite ones are re-read through the score reader after
    ``LTI_AGGREGATE_SCORE_PASSBACK_DELAY``. Nothing is queued before the
    transaction commits (nor at all if it rolls back).
    """
    missing = [name for name in _REQUIRED if kwargs.get(name) is None]
    if missing:
        logger.error("Outcome Service: score_changed without %s; no score sent.", missing)
        return
    try:
        course_key = CourseKey.from_string(str(kwargs["course_id"]))
        usage_key = UsageKey.from_string(str(kwargs["usage_id"])).map_into_course(course_key)
    except InvalidKeyError as exc:
        logger.error("Outcome Service: score_changed with an invalid key: %s", exc)
        return
    user_id = kwargs["user_id"]
    earned, possible = float(kwargs["weighted_earned"]), float(kwargs["weighted_possible"])

    versions = outcomes.increment_assignment_versions
    lti11 = outcomes.assignments_for_score_change(user_id, course_key, usage_key)
    lti13 = outcomes.assignments_for_score_change(
        user_id, course_key, usage_key, Lti13GradedAssignment
    )
    queued = (
        (
            versions(lti11.values_list("pk", flat=True)),
            tasks.send_leaf_outcome,
            tasks.send_composite_outcome,
        ),
        (
            versions(lti13.values_list("pk", flat=True), Lti13GradedAssignment),
            tasks.send_ags_leaf_score,
            tasks.send_ags_composite_score,
        ),
    )
    for assignments, leaf_task, composite_task in queued:
        for assignment in assignments:
            version = assignment.version_number
            if assignment.usage_key == usage_key:
                _queue_on_commit(leaf_task, (assignment.pk, earned, possible, version))
            else:
                _queue_on_commit(
                    composite_task,
                    (user_id, str(course_key), assignment.pk, version),
                    countdown=app_settings.aggregate_score_passback_delay,
                )


def _queue_on_commit(task: Any, args: tuple[Any, ...], countdown: int | None = None) -> None:
    def queue_passback() -> None:
        tasks.queue_or_run(task, args, countdown)

    # robust: a broker failure must not break the host's request once committed.
    transaction.on_commit(queue_passback, robust=True)


# -- the host's account retirement ------------------------------------------------------
RETIREMENT_DISPATCH_UID = "lti_provider.handlers.retire_user_receiver"
_retirement_signal: Signal | None = None


def retire_user_receiver(sender: Any, user: Any = None, **kwargs: Any) -> None:
    """Forget the user's LTI identities and outcome records (``api.retire_user``)."""
    from .api import retire_user

    if user is None:
        raise TypeError("The retirement signal must be sent with user=<the retired user>.")
    retire_user(user)


def connect_retirement_receiver() -> None:
    """Connect ``retire_user_receiver`` to the configured signal (and only to it)."""
    global _retirement_signal
    signal = app_settings.retirement_signal
    if _retirement_signal is not None and _retirement_signal is not signal:
        _retirement_signal.disconnect(dispatch_uid=RETIREMENT_DISPATCH_UID)
    if signal is not None:
        signal.connect(retire_user_receiver, dispatch_uid=RETIREMENT_DISPATCH_UID)
    _retirement_signal = signal


@receiver(setting_changed, dispatch_uid="lti_provider.handlers.reconnect_retirement_receiver")
def reconnect_retirement_receiver(sender: Any, setting: str, **kwargs: Any) -> None:
    """Follow changes of ``LTI_PROVIDER`` (``override_settings`` in tests)."""
    if setting == "LTI_PROVIDER":
        connect_retirement_receiver()
