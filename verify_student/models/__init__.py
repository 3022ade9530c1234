"""Models for student identity verification.

A ``PhotoVerification`` is one attempt by a learner to prove who they are
with a photo of their face and of a photo ID. It moves through a small state
machine (``statuses.ALLOWED_FROM``): created -> ready -> submitted ->
approved / denied / must_retry. Edit attempts only through the transition
methods: each locks its row, re-reads the status from the database and
refuses (``VerificationException``) a transition from the wrong status,
changing nothing.

Models do no network or storage I/O themselves: encrypted photos go through
``storage.py`` and submissions through ``client.py``; the methods that kept
the original's names (``upload_face_image``, ``submit``, ``image_url``...)
delegate to them.
"""

from .checkpoints import SkippedReverification, VerificationCheckpoint, VerificationStatus
from .config import IcrvStatusEmailsConfiguration, InCourseReverificationConfiguration
from .deadlines import VerificationDeadline
from .photo_verification import (
    STAFF_ERROR_CODE,
    PhotoVerification,
    VerificationException,
    generateUUID,
    status_before_must_be,
)
from .replay import AppliedResultsCallback
from .review import PhotoReviewAccess
from .software_secure import SoftwareSecurePhotoVerification

__all__ = [
    "STAFF_ERROR_CODE",
    "AppliedResultsCallback",
    "IcrvStatusEmailsConfiguration",
    "InCourseReverificationConfiguration",
    "PhotoReviewAccess",
    "PhotoVerification",
    "SkippedReverification",
    "SoftwareSecurePhotoVerification",
    "VerificationCheckpoint",
    "VerificationDeadline",
    "VerificationException",
    "VerificationStatus",
    "generateUUID",
    "status_before_must_be",
]
