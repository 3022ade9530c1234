"""The audit log of staff viewing decrypted photos."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy

from .software_secure import SoftwareSecurePhotoVerification


class PhotoReviewAccess(models.Model):
    """One viewing of an attempt's decrypted photo by staff, kept as an audit trail.

    Written by the admin's review page each time it serves an image; who
    decided is kept on the attempt itself (``reviewing_user`` and its history).
    """

    FACE = "face"
    PHOTO_ID = "photo_id"
    IMAGE_CHOICES = ((FACE, "face photo"), (PHOTO_ID, "photo ID"))

    attempt = models.ForeignKey(
        SoftwareSecurePhotoVerification, related_name="review_accesses", on_delete=models.CASCADE
    )
    # Kept when the staff account is removed: the log must outlive it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="photo_review_accesses",
    )
    image = models.CharField(max_length=16, choices=IMAGE_CHOICES)
    viewed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-viewed_at", "-pk"]
        verbose_name = gettext_lazy("photo review access")
        verbose_name_plural = gettext_lazy("photo review accesses")

    def __str__(self) -> str:
        return f"{self.image} of attempt {self.attempt_id} viewed by user {self.user_id}"
