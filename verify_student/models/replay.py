"""The results callback's replay memory: the verdicts already applied."""

from __future__ import annotations

from django.db import models


class AppliedResultsCallback(models.Model):
    """A signed verdict of the review service that was applied, kept while it could verify.

    Written in the transaction that applies the verdict, so it exists exactly
    when the verdict took effect; ``digest`` is the SHA-256 of the verified
    access key and signature, and its unique index makes the check atomic.
    Rows leave only once expired (``verify_student.replay``), so no other
    traffic can push one out.
    """

    # Every applied verdict inserts a row: 64-bit ids do not run out.
    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "applied results callback"

    def __str__(self) -> str:
        return f"callback {self.digest[:12]}... until {self.expires_at:%Y-%m-%d %H:%M:%S}"
