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

from django.db import DatabaseError, IntegrityError
from django.utils import timezone

from .models import AppliedResultsCallback

#: One insert in this many sweeps the expired rows.
SWEEP_EVERY = 100


def callback_digest(access_key: str, signature: str) -> str:
    """SHA-256 (hex) of a verified callback's credentials: one per signed message."""
    return hashlib.sha256(f"{access_key}:{signature}".encode("ascii")).hexdigest()


class AlreadyApplied(Exception):
    """The verdict was applied before (raised out of the transaction, rolling it back)."""


class MemoryUnavailable(Exception):
    """The table could not be written: whether the verdict was applied is unknown."""


def remember(digest: str, lifetime: float) -> None:
    """Record a verdict as applied for ``lifetime`` seconds; ``AlreadyApplied`` if it was.

    Call it first in the transaction that applies the verdict, and let
    ``AlreadyApplied`` leave that transaction: the refused insert is rolled
    back with it, so no savepoint is needed. (A row past its expiry still
    counts: its verdict's Date is past the callback window by then, so the
    verdict is refused before reaching here.) Raises ``MemoryUnavailable``
    when the table cannot be written: the caller refuses the verdict then.
    """
    now = timezone.now()
    try:
        row = AppliedResultsCallback.objects.create(
            digest=digest, expires_at=now + dt.timedelta(seconds=lifetime)
        )
    except IntegrityError as exc:
        raise AlreadyApplied() from exc
    except DatabaseError as exc:
        raise MemoryUnavailable(type(exc).__name__) from exc
    if row.pk % SWEEP_EVERY == 0:
        sweep_expired(now)


def sweep_expired(now: dt.datetime | None = None) -> int:
    """Delete the remembered verdicts past their expiry; how many were deleted."""
    expired = AppliedResultsCallback.objects.filter(expires_at__lte=now or timezone.now())
    deleted, _ = expired.delete()
    return deleted
