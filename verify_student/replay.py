"""The results callback's replay memory, in a database table.

The review service's protocol has no nonce: a signed verdict stays valid
while its Date is within ``CALLBACK_MAX_AGE`` of now. So each verdict
applied is remembered (``AppliedResultsCallback``) for twice that window,
under a digest of the verified access key and signature, and a verdict
remembered is not applied again. The row is written in the transaction that
applies the verdict: the unique index makes two concurrent deliveries of
one verdict apply it once, and a verdict that fails to apply leaves no row.
Only a verified callback writes here, and nothing evicts a row before it
expires (as a cache would under memory pressure).

Every ``SWEEP_EVERY``-th row inserted deletes the expired ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import AppliedResultsCallback

#: One insert in this many sweeps the expired rows.
SWEEP_EVERY = 100


def callback_digest(access_key: str, signature: str) -> str:
    """SHA-256 (hex) of a verified callback's credentials: one per signed message."""
    return hashlib.sha256(f"{access_key}:{signature}".encode("ascii")).hexdigest()


def remember(digest: str, lifetime: float) -> bool:
    """Record a verdict as applied for ``lifetime`` seconds; False if it already was.

    Call it inside the transaction that applies the verdict. A row past its
    expiry (not swept yet) counts as forgotten. Raises
    ``django.db.DatabaseError`` when the table cannot be written.
    """
    now = timezone.now()
    expires_at = now + dt.timedelta(seconds=lifetime)
    try:
        with transaction.atomic():  # a savepoint: a refused insert keeps the caller's going
            row = AppliedResultsCallback.objects.create(digest=digest, expires_at=expires_at)
    except IntegrityError:
        revived = AppliedResultsCallback.objects.filter(digest=digest, expires_at__lte=now).update(
            expires_at=expires_at
        )
        return revived == 1
    if row.pk % SWEEP_EVERY == 0:
        sweep_expired(now)
    return True


def sweep_expired(now: dt.datetime | None = None) -> int:
    """Delete the remembered verdicts past their expiry; how many were deleted."""
    expired = AppliedResultsCallback.objects.filter(expires_at__lte=now or timezone.now())
    deleted, _ = expired.delete()
    return deleted
