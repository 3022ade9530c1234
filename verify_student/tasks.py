"""Celery tasks: the submission to the reviewer (with retries) and status emails.

Tasks take ids, not objects, and are idempotent: running one twice for the
same attempt changes nothing the second time. ``queue_or_run`` sends one to
the host's Celery app, or runs it in this process when there is none
(``VERIFY_STUDENT['USE_CELERY']``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app, shared_task
from celery.exceptions import Retry
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string
from kombu.exceptions import OperationalError

from . import statuses
from .client import SubmissionOutcome
from .conf import app_settings
from .models import SoftwareSecurePhotoVerification, VerificationCheckpoint

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True)
def send_request_to_ss_for_user(self, attempt_id: int) -> str:  # type: ignore[no-untyped-def]
    """Submit a ready (or must_retry) attempt; retry network errors and 5xx with backoff.

    After ``SUBMISSION_MAX_RETRIES`` retries the attempt stays must_retry with
    the last error kept, for ``retry_failed_photo_verifications`` to pick up.
    """
    attempt = SoftwareSecurePhotoVerification.objects.filter(pk=attempt_id).first()
    if attempt is None:
        log.warning("Submission task: attempt %s no longer exists.", attempt_id)
        return "missing"
    if attempt.status not in (statuses.READY, statuses.MUST_RETRY):
        log.info("Submission task: attempt %s is %s; nothing to do.", attempt_id, attempt.status)
        return attempt.status
    outcome = attempt.submit(copy_id_photo_from=attempt.copy_id_photo_from)
    if outcome is SubmissionOutcome.UNAVAILABLE:
        retries = self.request.retries
        if retries < app_settings.SUBMISSION_MAX_RETRIES:
            countdown = app_settings.SUBMISSION_RETRY_BACKOFF * (2**retries)
            log.info("Submission of attempt %s will be retried in %ss.", attempt_id, countdown)
            raise self.retry(countdown=countdown)
        log.error(
            "Submission of attempt %s failed %s times; left must_retry.", attempt_id, retries + 1
        )
    return attempt.status


@shared_task
def send_verification_status_email(user_id: int, checkpoint_id: int, status: str) -> bool:
    """Tell the learner how their in-course re-verification was decided."""
    user = get_user_model().objects.filter(pk=user_id).first()
    checkpoint = VerificationCheckpoint.objects.filter(pk=checkpoint_id).first()
    if user is None or checkpoint is None or not user.email:
        return False
    context = {
        "user": user,
        "checkpoint": checkpoint,
        "status": status,
        "platform_name": app_settings.platform_name,
    }
    subject = render_to_string("verify_student/emails/icrv_status_subject.txt", context).strip()
    body = render_to_string("verify_student/emails/icrv_status_body.txt", context)
    send_mail(subject, body, None, [user.email])
    log.info("Re-verification status email (%s) sent to user %s.", status, user_id)
    return True


# -- where a task runs -------------------------------------------------------------------
def host_has_celery_app() -> bool:
    """Whether the host made a Celery app (not Celery's own fallback).

    Without one, Celery falls back to an app of its own that sends tasks to
    ``amqp://localhost``, where nothing listens on a host that never set Celery up.
    """
    app = current_app._get_current_object()
    return not (app.main == "default" and app.set_as_current is False and not app.fixups)


def uses_celery() -> bool:
    """Tasks go to Celery: as ``USE_CELERY`` says, or when the host has a Celery app."""
    setting = app_settings.USE_CELERY
    return host_has_celery_app() if setting is None else setting


def queue_or_run(task: Task, *args: Any) -> str:
    """Queue ``task(*args)`` on the host's Celery, or run it here, once; what happened.

    Call it once the data the task reads is committed. Returns ``"queued"``,
    ``"ran"``, or ``"not queued"`` when the broker cannot be reached (logged;
    nothing is raised, so the request that committed the data still succeeds).
    In-process, a task that asks to be retried is not (nothing would wait
    for the countdown); what it left (must_retry) is picked up by the same command.
    """
    if uses_celery():
        try:
            task.apply_async(args)
        except OperationalError as exc:
            log.warning(
                "Task %s%r not queued: the Celery broker is unreachable (%s).",
                task.name,
                args,
                type(exc).__name__,
            )
            return "not queued"
        return "queued"
    try:
        task(*args)
    except Retry:
        log.info(
            "Task %s%r ran in-process and asked to be retried: not retried here.", task.name, args
        )
    return "ran"
