"""The LTI provider's public functions a host LMS calls (beyond launches and scores)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from lti_provider.models import GradedAssignment, Lti13GradedAssignment, LtiUser

__all__ = ["retire_user"]

logger = logging.getLogger(__name__)


def retire_user(user: Any) -> dict[str, int]:
    """Forget every LTI identity and outcome record of a retired ``user``.

    Deletes the user's ``LtiUser`` rows (all consumers, LTI 1.1 and 1.3), so a
    later launch of those identities is treated as a new learner: a new
    account, or, for a ``require_user_account`` consumer, a link only to the
    account the learner then logs in with. Deletes the user's
    ``GradedAssignment`` and ``Lti13GradedAssignment`` rows too: their
    ``lis_result_sourcedid`` / ``sub`` identify the learner at the consumer,
    and no score of a retired account should be sent any more. Consumers and
    outcome services (the platforms') are kept. Idempotent; returns the number
    of rows deleted per model.
    """
    with transaction.atomic():
        # Assignments first: an assignment also goes with its LtiUser (cascade).
        assignments = GradedAssignment.objects.filter(user=user).delete()[0]
        deleted = {
            "lti_users": LtiUser.objects.filter(edx_user=user).delete()[0],
            "graded_assignments": assignments,
            "lti13_graded_assignments": Lti13GradedAssignment.objects.filter(user=user).delete()[0],
        }
    logger.info("LTI records of user %s retired: %s", user.pk, deleted)
    return deleted
