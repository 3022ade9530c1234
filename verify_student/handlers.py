"""Signal receivers: cache invalidation, each a line or two."""

from typing import Any

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

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
