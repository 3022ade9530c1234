"""The replay memory of verified launches: spent nonces in a database table.

A spent nonce is a ``SpentNonce`` row. Spending inserts it; the unique index
on ``digest`` refuses a second insert, so of two concurrent launches with
one nonce, on any number of processes or hosts, exactly one spends it.
Only a launch whose signature verified spends a nonce, so an anonymous
request adds nothing here, and nothing evicts a row before it expires
(a cache may drop any key under memory pressure; a table does not).

Rows leave once past their expiry: every ``SWEEP_EVERY``-th row inserted
deletes the expired ones (an indexed range delete), so the table holds about
the launches of the last nonce lifetime. ``sweep_expired`` may also be run by
the host at any time.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from lti_provider.models import SpentNonce

#: One insert in this many sweeps the expired rows.
SWEEP_EVERY = 100


def nonce_digest(kind: str, *parts: str) -> str:
    """SHA-256 (hex) of a nonce and what scopes it (``kind``: the LTI version)."""
    text = "\x00".join((kind, *parts))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def spend(digest: str, lifetime: float) -> bool:
    """Record ``digest`` as spent for ``lifetime`` seconds; False if it already is.

    A row whose expiry has passed (not swept yet) is spent again. Raises
    ``django.db.DatabaseError`` when the store cannot answer: callers refuse
    the request then (a replay could not be ruled out).
    """
    now = timezone.now()
    expires_at = now + dt.timedelta(seconds=lifetime)
    try:
        row = _insert(digest, expires_at)
    except IntegrityError:
        # Spent before: free again only once that expired. The conditional update
        # is atomic, so two launches reviving one expired nonce cannot both win.
        revived = SpentNonce.objects.filter(digest=digest, expires_at__lte=now).update(
            expires_at=expires_at
        )
        return revived == 1
    if row.pk % SWEEP_EVERY == 0:
        sweep_expired(now)
    return True


def _insert(digest: str, expires_at: dt.datetime) -> SpentNonce:
    if transaction.get_connection().in_atomic_block:
        # A savepoint, so that a refused insert leaves the caller's transaction usable.
        with transaction.atomic():
            return SpentNonce.objects.create(digest=digest, expires_at=expires_at)
    # Autocommit (a launch's usual case): the insert is its own transaction, one statement.
    return SpentNonce.objects.create(digest=digest, expires_at=expires_at)


def sweep_expired(now: dt.datetime | None = None) -> int:
    """Delete the spent nonces past their expiry; how many were deleted."""
    deleted, _ = SpentNonce.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
