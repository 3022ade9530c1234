"""Attempt statuses and the transitions allowed between them, as data.

The table reproduces the original's ``@status_before_must_be`` decorators:
a transition may run only from the statuses listed for it.
"""

from model_utils import Choices

STATUS = Choices("created", "ready", "submitted", "must_retry", "approved", "denied")

CREATED = STATUS.created
READY = STATUS.ready
SUBMITTED = STATUS.submitted
MUST_RETRY = STATUS.must_retry
APPROVED = STATUS.approved
DENIED = STATUS.denied

#: transition name -> statuses it may start from
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "upload_face_image": (CREATED,),
    "upload_photo_id_image": (CREATED,),
    "mark_ready": (CREATED,),
    "submit": (MUST_RETRY, READY, SUBMITTED),
    "approve": (MUST_RETRY, SUBMITTED, APPROVED, DENIED),
    "deny": (MUST_RETRY, SUBMITTED, APPROVED, DENIED),
    "system_error": (MUST_RETRY, SUBMITTED, APPROVED, DENIED),
    # A review service's verdict: one of the three above, in one locked transaction.
    "review": (MUST_RETRY, SUBMITTED, APPROVED, DENIED),
}

#: statuses counted as "valid or pending" (the learner signed off, no denial yet)
VALID_OR_PENDING = (SUBMITTED, APPROVED, MUST_RETRY)
#: statuses a reviewer has decided
DECIDED = (APPROVED, DENIED)
