"""Signal receivers: cache invalidation and the host's account retirement, each a few lines."""

from typing import Any

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver
from django.test.signals import setting_changed

from .conf import app_settings
from .models import (
    SkippedReverification,
    VerificationCheckpoint,
    VerificationDeadline,
    VerificationStatus,
)


@receiver(post_save, sender=VerificationDeadline)
@receiver(post_delete, sender=VerificationDeadline)
def invalidate_deadline_caches(sender: Any, instance: VerificationDeadline, **kwargs: Any) -> None:
    """Forget the cached deadline of the course that changed."""
    cache.delete_many(
        [
            VerificationDeadline.cache_key_for(instance.course_key),
            VerificationDeadline.ALL_DEADLINES_CACHE_KEY,
        ]
    )


@receiver(post_save, sender=VerificationStatus)
@receiver(post_delete, sender=VerificationStatus)
def invalidate_verification_status_cache(
    sender: Any, instance: VerificationStatus, **kwargs: Any
) -> None:
    """Forget the cached checkpoint statuses of the user in that course."""
    try:
        course_id = instance.checkpoint.course_id
    except VerificationCheckpoint.DoesNotExist:  # deleted along with its checkpoint
        return
    cache.delete(VerificationStatus.cache_key_name(instance.user_id, course_id))


@receiver(post_save, sender=SkippedReverification)
@receiver(post_delete, sender=SkippedReverification)
def invalidate_skipped_verification_cache(
    sender: Any, instance: SkippedReverification, **kwargs: Any
) -> None:
    """Forget the cached skip flag of the user in that course."""
    cache.delete(SkippedReverification.cache_key_name(instance.user_id, instance.course_id))


# -- the host's account retirement (VERIFY_STUDENT["RETIREMENT_SIGNAL"]) ----------------
RETIREMENT_DISPATCH_UID = "verify_student.handlers.retire_user_receiver"
_retirement_signal: Signal | None = None


def retire_user_receiver(sender: Any, user: Any = None, **kwargs: Any) -> None:
    """Retire the learner's verification data (``api.retire_user``); errors propagate.

    A storage failure raises ``PhotosNotDeletedError`` to the host, whose
    retirement step should then be retried (retiring again is safe).
    """
    from .api import retire_user

    if user is None:
        raise TypeError("The retirement signal must be sent with user=<the retired user>.")
    retire_user(user)


def connect_retirement_receiver() -> None:
    """Connect ``retire_user_receiver`` to the configured signal (and only to it)."""
    global _retirement_signal
    signal = app_settings.RETIREMENT_SIGNAL
    if _retirement_signal is not None and _retirement_signal is not signal:
        _retirement_signal.disconnect(dispatch_uid=RETIREMENT_DISPATCH_UID)
    if signal is not None:
        signal.connect(retire_user_receiver, dispatch_uid=RETIREMENT_DISPATCH_UID)
    _retirement_signal = signal


@receiver(setting_changed)
def reconnect_retirement_receiver(sender: Any, setting: str, **kwargs: Any) -> None:
    """Follow changes of ``VERIFY_STUDENT`` (``override_settings`` in tests)."""
    if setting == "VERIFY_STUDENT":
        connect_retirement_receiver()
