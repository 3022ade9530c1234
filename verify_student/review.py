"""Decrypting an attempt's photos in memory, for staff review in the admin.

The face photo opens with the site's ``FACE_IMAGE_AES_KEY``. The photo ID
opens only where ``RSA_PRIVATE_KEY_FOR_REVIEW`` is configured (in-house
review): its per-attempt AES key is unsealed with that private key first.
Nothing decrypted is written anywhere; callers hand the bytes straight to
the response. Failures come back as a ``ReviewPhoto`` with a ``problem`` a
reviewer can read (the path and error kind only: no key, no image bytes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from . import ssencrypt, storage
from .conf import app_settings
from .exceptions import PhotoStorageError
from .models import PhotoReviewAccess, SoftwareSecurePhotoVerification

__all__ = [
    "IMAGES",
    "ReviewPhoto",
    "load_photo",
    "photo_id_review_enabled",
    "record_view",
    "reviewable_photos",
]

log = logging.getLogger(__name__)

#: The images a reviewer may look at, by the name used in URLs and the access log.
IMAGES = (PhotoReviewAccess.FACE, PhotoReviewAccess.PHOTO_ID)
_LABELS = dict(PhotoReviewAccess.IMAGE_CHOICES)
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


@dataclass(frozen=True)
class ReviewPhoto:
    """A decrypted photo (``data`` and ``content_type``), or why there is none."""

    image: str
    data: bytes = b""
    content_type: str = ""
    problem: str = ""

    @property
    def available(self) -> bool:
        return not self.problem

    @property
    def label(self) -> str:
        return _LABELS[self.image]


def photo_id_review_enabled() -> bool:
    """Whether this site holds the RSA private key that opens photo IDs.

    A malformed key counts as absent here; ``manage.py check`` reports it.
    """
    try:
        return app_settings.rsa_private_key_for_review is not None
    except ImproperlyConfigured:
        return False


def load_photo(attempt: SoftwareSecurePhotoVerification, image: str) -> ReviewPhoto:
    """Read ``image`` (``face`` or ``photo_id``) of the attempt and decrypt it in memory."""
    if image == PhotoReviewAccess.FACE:
        return _load_face(attempt)
    if image == PhotoReviewAccess.PHOTO_ID:
        return _load_photo_id(attempt)
    raise ValueError(f"unknown image {image!r}")


def reviewable_photos(attempt: SoftwareSecurePhotoVerification) -> list[ReviewPhoto]:
    """The face photo, and the photo ID where this site can open it, decrypted."""
    images = [PhotoReviewAccess.FACE]
    if photo_id_review_enabled():
        images.append(PhotoReviewAccess.PHOTO_ID)
    return [load_photo(attempt, image) for image in images]


def _load_face(attempt: SoftwareSecurePhotoVerification) -> ReviewPhoto:
    image = PhotoReviewAccess.FACE
    try:
        key = app_settings.face_image_aes_key
    except ImproperlyConfigured as exc:
        return ReviewPhoto(
            image, problem=_("The face photo cannot be decrypted: %(error)s") % {"error": exc}
        )
    return _decrypt_stored(attempt, image, attempt._get_path("face"), key)


def _load_photo_id(attempt: SoftwareSecurePhotoVerification) -> ReviewPhoto:
    image = PhotoReviewAccess.PHOTO_ID
    try:
        private_key = app_settings.rsa_private_key_for_review
    except ImproperlyConfigured as exc:
        return ReviewPhoto(
            image, problem=_("The photo ID cannot be decrypted: %(error)s") % {"error": exc}
        )
    if private_key is None:
        return ReviewPhoto(
            image,
            problem=_(
                "Photo IDs can only be reviewed where "
                "VERIFY_STUDENT['RSA_PRIVATE_KEY_FOR_REVIEW'] is configured."
            ),
        )
    # A re-verification re-uses the ID photo (and sealed key) of the initial attempt.
    source = attempt.copy_id_photo_from or attempt
    if not source.photo_id_key:
        return ReviewPhoto(image, problem=_("No photo ID key is stored for this attempt."))
    try:
        aes_key = ssencrypt.rsa_decrypt(ssencrypt.decode_key_text(source.photo_id_key), private_key)
    except ValueError:
        log.warning("Attempt %s: the photo ID key does not open with the review key.", source.pk)
        return ReviewPhoto(
            image,
            problem=_(
                "The photo ID key cannot be opened with RSA_PRIVATE_KEY_FOR_REVIEW "
                "(it was sealed for another key pair)."
            ),
        )
    return _decrypt_stored(attempt, image, source._get_path("photo_id"), aes_key)


def _decrypt_stored(
    attempt: SoftwareSecurePhotoVerification, image: str, path: str, key: bytes
) -> ReviewPhoto:
    label = _LABELS[image]
    try:
        stored = storage.read_photo(path)
    except PhotoStorageError as exc:
        return ReviewPhoto(
            image,
            problem=_("The %(photo)s could not be read from storage: %(error)s.")
            % {"photo": label, "error": exc},
        )
    try:
        data = ssencrypt.decode_and_decrypt(stored, key)
    except ValueError:
        log.warning("Attempt %s: the stored %s does not decrypt.", attempt.pk, image)
        return ReviewPhoto(
            image,
            problem=_(
                "The %(photo)s stored at %(path)s could not be decrypted "
                "(it is damaged, or was encrypted with another key)."
            )
            % {"photo": label, "path": path},
        )
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return ReviewPhoto(image, data=data, content_type=content_type)
    return ReviewPhoto(
        image,
        problem=_("The decrypted %(photo)s at %(path)s is not a JPEG or PNG image.")
        % {"photo": label, "path": path},
    )


def record_view(attempt: SoftwareSecurePhotoVerification, user: Any, image: str) -> None:
    """Keep who was shown which decrypted image of the attempt, and when."""
    PhotoReviewAccess.objects.create(attempt=attempt, user=user, image=image)
    log.info("User %s viewed the %s of attempt %s.", user.pk, image, attempt.pk)
