"""``SoftwareSecurePhotoVerification``: attempts reviewed by Software Secure, photos encrypted."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from simple_history.models import HistoricalRecords

from .. import statuses
from ..conf import app_settings
from ..exceptions import VerificationException
from .checkpoints import VerificationCheckpoint, VerificationStatus
from .photo_verification import STAFF_ERROR_CODE, PhotoVerification, _transition

log = logging.getLogger(__name__)


class _HistoricalStatusBase(models.Model):
    """Gives the history table the STATUS choices its copied StatusField needs."""

    STATUS = statuses.STATUS

    class Meta:
        abstract = True


class SoftwareSecurePhotoVerification(PhotoVerification):
    """An attempt reviewed by Software Secure, with its photos encrypted.

    1. The face photo is AES-256-CBC encrypted with the site-wide
       ``FACE_IMAGE_AES_KEY``, which the reviewer also holds (sent sealed
       with the reviewer's RSA key).
    2. The photo ID gets a fresh random AES key per attempt; that key is
       sealed with the reviewer's RSA public key and only the sealed form is
       kept (``photo_id_key``), so this site cannot read the ID photo back.
    3. Both are stored URL-safe base64 encoded at ``face/<receipt_id>`` and
       ``photo_id/<receipt_id>`` in the configured storage (S3 by default).

    This model handles *initial* verifications.
    """

    # base64(rsa_encrypt(photo ID AES key)), MIME-style lines; about 350 characters.
    photo_id_key = models.TextField(max_length=1024)
    copy_id_photo_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    # When the learner was told this verification expired (once per expiry).
    expiry_email_date = models.DateTimeField(null=True, blank=True, db_index=True)

    IMAGE_LINK_DURATION = 5 * 60 * 60 * 24  # 5 days, in seconds

    history = HistoricalRecords(excluded_fields=["photo_id_key"], bases=[_HistoricalStatusBase])

    class Meta(PhotoVerification.Meta):
        abstract = False
        verbose_name = gettext_lazy("Software Secure photo verification")
        permissions = [
            ("review_photos", "Can view decrypted verification photos"),
            ("export_verification_data", "Can export a learner's verification records"),
        ]
        indexes = [
            models.Index(fields=["user", "status", "created_at"], name="vs_sspv_user_status"),
            models.Index(fields=["user", "updated_at"], name="vs_sspv_user_updated"),
        ]

    @classmethod
    def get_initial_verification(
        cls, user: Any, earliest_allowed_date: datetime | None = None
    ) -> SoftwareSecurePhotoVerification | None:
        """The newest submitted or approved, unexpired attempt that has a photo ID key."""
        return (
            cls.unretired()
            .filter(
                user=user,
                status__in=[statuses.SUBMITTED, statuses.APPROVED],
                created_at__gte=earliest_allowed_date or cls._earliest_allowed_date(),
            )
            .exclude(photo_id_key="")
            .order_by("-created_at")
            .first()
        )

    #: The original's alias.
    original_verification = get_initial_verification

    # -- photos (storage I/O lives in storage.py) ------------------------------------------
    @_transition("upload_face_image")
    def upload_face_image(self, img_data: bytes) -> None:
        """Encrypt the face photo with ``FACE_IMAGE_AES_KEY`` and store it."""
        if app_settings.automatic_verify_for_testing:
            return
        from .. import ssencrypt, storage

        encrypted = ssencrypt.encrypt_and_encode(img_data, app_settings.face_image_aes_key)
        storage.save_photo(self._get_path("face"), encrypted)

    @_transition("upload_photo_id_image")
    def upload_photo_id_image(self, img_data: bytes) -> None:
        """Encrypt the ID photo with a fresh AES key, store it, keep the sealed key."""
        if app_settings.automatic_verify_for_testing:
            self.photo_id_key = "fake-photo-id-key"
            self.save()
            return
        from .. import ssencrypt, storage

        aes_key = ssencrypt.random_aes_key()
        sealed = ssencrypt.rsa_encrypt(aes_key, app_settings.rsa_public_key)
        storage.save_photo(
            self._get_path("photo_id"), ssencrypt.encrypt_and_encode(img_data, aes_key)
        )
        self.photo_id_key = ssencrypt.encode_key_text(sealed)
        self.save()

    def image_url(self, name: str, override_receipt_id: str | None = None) -> str:
        """A signed URL to the stored (encrypted) image, valid ``IMAGE_LINK_DURATION``."""
        from .. import storage

        return storage.photo_url(self._get_path(name, override_receipt_id=override_receipt_id))

    @cached_property
    def _storage(self) -> Any:
        from .. import storage

        return storage.get_storage()

    def _get_path(self, prefix: str, override_receipt_id: str | None = None) -> str:
        """``<prefix>/<receipt_id>`` (another attempt's receipt id when re-using its ID photo)."""
        receipt_id = self.receipt_id if override_receipt_id is None else override_receipt_id
        return f"{prefix}/{receipt_id}"

    # -- submission (HTTP lives in client.py) ---------------------------------------------
    def submit(self, copy_id_photo_from: SoftwareSecurePhotoVerification | None = None) -> Any:
        """Send the attempt for review: submitted on a 2xx, must_retry otherwise.

        Returns the ``client.SubmissionOutcome``.

        The HTTP request runs with no row lock held; the outcome is then
        recorded by a locked transition.
        """
        if self.pk is not None:  # the stored status, not a stale copy's (no lock held yet)
            self.status, self.retired_at = (
                type(self).objects.filter(pk=self.pk).values_list("status", "retired_at").get()
            )
        if self.retired_at is not None:
            raise VerificationException(
                f"Attempt {self.pk} belongs to a retired learner; it is not sent for review."
            )
        if self.status not in statuses.ALLOWED_FROM["submit"]:
            raise VerificationException(
                f"Error calling submit on attempt {self.pk}: status is {self.status!r}, "
                f"must be one of: {', '.join(statuses.ALLOWED_FROM['submit'])}"
            )
        from ..client import submit_attempt

        return submit_attempt(self, copy_id_photo_from=copy_id_photo_from)

    @_transition("submit")
    def mark_submitted(self) -> None:
        """Record that the reviewer accepted the submission."""
        self.submitted_at = timezone.now()
        self.status = statuses.SUBMITTED
        self._save_transition("submitted_at")

    @_transition("submit")
    def mark_must_retry(self, error_msg: str = "") -> None:
        """Record a failed submission, keeping the error (response text or network error)."""
        self.status = statuses.MUST_RETRY
        self.error_msg = error_msg
        self._save_transition("error_msg")

    @_transition("review")
    def apply_review(
        self, decision: str, error_msg: str = "", error_code: str = "", service: str = ""
    ) -> list[VerificationCheckpoint] | None:
        """A review service's verdict: ``approve``, ``deny`` or ``system_error``.

        One locked transaction: the decision, its history row, and a status
        row at each checkpoint the attempt was made for. Returns those
        checkpoints, or None when the verdict repeats what is recorded (then
        nothing is written: a callback sent twice is idempotent).
        """
        before = (self.status, self.error_msg, self.error_code)
        if decision == "approve":
            self._approve(None, service)
            checkpoint_status = VerificationStatus.APPROVED_STATUS
        elif decision == "deny":
            if before != (statuses.DENIED, error_msg, error_code):
                self._record_review(statuses.DENIED, error_msg, error_code, None, service)
            checkpoint_status = VerificationStatus.DENIED_STATUS
        elif decision == "system_error":
            if before != (statuses.MUST_RETRY, error_msg, error_code):
                self._system_error(error_msg, error_code, None, service)
            checkpoint_status = VerificationStatus.ERROR_STATUS
        else:
            raise ValueError(f"Unknown review decision {decision!r}")
        if before == (self.status, self.error_msg, self.error_code):
            return None
        checkpoints = list(VerificationCheckpoint.objects.filter(photo_verification=self))
        if checkpoints:
            VerificationStatus.add_status_from_checkpoints(
                checkpoints, self.user, checkpoint_status
            )
        return checkpoints

    def create_request(
        self, copy_id_photo_from: SoftwareSecurePhotoVerification | None = None
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """``(headers, body)`` of the signed submission (see ``client.py``)."""
        from ..client import SoftwareSecureClient

        return SoftwareSecureClient().create_request(self, copy_id_photo_from=copy_id_photo_from)

    def send_request(
        self, copy_id_photo_from: SoftwareSecurePhotoVerification | None = None
    ) -> Any:
        """Send the submission and return the ``requests.Response``."""
        from ..client import SoftwareSecureClient

        return SoftwareSecureClient().send_request(self, copy_id_photo_from=copy_id_photo_from)

    def request_message_txt(self) -> str:
        """A readable rendering of the request that would be sent (for debugging)."""
        from ..client import SoftwareSecureClient

        return SoftwareSecureClient().request_message_txt(self)

    # Reviewer message categories made readable (the original's table).
    ERROR_MESSAGES = {
        ("photoIdReasons", "Not provided"): gettext_lazy("No photo ID was provided."),
        ("photoIdReasons", "Text not clear"): gettext_lazy(
            "We couldn't read your name from your photo ID image."
        ),
        ("generalReasons", "Name mismatch"): gettext_lazy(
            "The name associated with your account and the name on your ID do not match."
        ),
        ("userPhotoReasons", "Image not clear"): gettext_lazy(
            "The image of your face was not clear."
        ),
        ("userPhotoReasons", "Face out of view"): gettext_lazy(
            "Your face was not visible in your self-photo."
        ),
    }

    def parsed_error_msg(self) -> str:
        """Turn ``[{"photoIdReasons": ["Not provided"]}]`` into readable sentences.

        A staff reviewer's reason (``api.review_attempt``) is already written
        for the learner and is returned as it is.
        """
        if self.error_code == STAFF_ERROR_CODE:
            return self.error_msg
        try:
            categories = json.loads(self.error_msg)[0]
            return ", ".join(
                str(self.ERROR_MESSAGES[(category, message)])
                for category, messages in categories.items()
                for message in messages
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            log.error("PhotoVerification %s: could not parse its error message.", self.pk)
            return _("There was an error verifying your ID photos.")
