"""LTI identities and local accounts: lookup, auto-link by email, creation, login.

An LTI identity is (consumer, LTI ``user_id``). The rules:

* A known identity logs in the account it is linked to (refused if inactive).
* A new identity from a consumer with ``require_user_account`` is linked to
  the account the learner is *logged in with*, and only when that account's
  email equals the launch's ``lis_person_contact_email_primary`` (trimmed,
  case-insensitive). An asserted email alone never designates an account:
  otherwise any consumer could take over any account, staff included.
* A new identity from any other consumer gets a new account of its own.

Creation is race-safe: two concurrent first launches of one identity make one
``LtiUser`` (the loser's insert fails on the unique constraint inside a
savepoint, and it re-reads the winner's row).
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model, login
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.http import HttpRequest

from lti_provider.conf import LTI_BACKEND, app_settings
from lti_provider.exceptions import EmailMismatch, InactiveUser, LtiLoginRequired, MissingEmail
from lti_provider.models import LtiConsumer, LtiUser

logger = logging.getLogger(__name__)

USERNAME_LENGTH = 30
USERNAME_ATTEMPTS = 5
_USERNAME_ALPHABET = string.ascii_letters + string.digits


def authenticate_lti_user(
    request: HttpRequest,
    lti_user_id: str,
    lti_consumer: LtiConsumer,
    email: str | None = None,
) -> Any:
    """Log the LTI identity's account in to ``request``'s session and return it.

    Links or creates the account first when the identity is new (see the
    module docstring). ``email`` is the launch's
    ``lis_person_contact_email_primary``. The session is switched (and its
    key rotated) only when its user differs.

    Raises ``InactiveUser``; for a consumer with ``require_user_account``,
    also ``LtiLoginRequired`` (no one logged in), ``EmailMismatch`` (logged in
    with another email) or ``MissingEmail`` (the launch carries none).
    """
    lti_user = find_lti_user(lti_consumer, lti_user_id)
    if lti_user is None:
        if lti_consumer.require_user_account:
            lti_user = link_logged_in_user(request, lti_user_id, lti_consumer, email)
        else:
            lti_user = create_lti_user(lti_user_id, lti_consumer)
    user = lti_user.edx_user
    if not user.is_active:
        logger.info("LTI launch refused: linked user %s is inactive", user.pk)
        raise InactiveUser()
    current = getattr(request, "user", None)
    if not (current is not None and current.is_authenticated and current.pk == user.pk):
        switch_user(request, lti_user, lti_consumer)
    return user


def find_lti_user(lti_consumer: LtiConsumer, lti_user_id: str) -> LtiUser | None:
    """The identity's link with its account, or ``None``.

    No query when ``lti_consumer`` was loaded with this identity
    (``LtiConsumer.objects.for_launch``, as a verified 1.1 launch is);
    otherwise one.
    """
    if lti_user_id and lti_consumer.launch_lti_user_id == lti_user_id:
        return getattr(lti_consumer, "launch_lti_user", None)
    return read_lti_user(lti_consumer, lti_user_id)


def read_lti_user(lti_consumer: LtiConsumer, lti_user_id: str) -> LtiUser | None:
    """The identity's link with its account, or ``None``, read now (one query)."""
    return (
        LtiUser.objects.select_related("edx_user")
        .filter(lti_consumer=lti_consumer, lti_user_id=lti_user_id)
        .first()
    )


def emails_match(a: str | None, b: str | None) -> bool:
    """Equal emails, ignoring case and surrounding spaces; a blank never matches."""
    left, right = (a or "").strip().casefold(), (b or "").strip().casefold()
    return bool(left) and left == right


def link_logged_in_user(
    request: HttpRequest, lti_user_id: str, lti_consumer: LtiConsumer, email: str | None
) -> LtiUser:
    """Link a new identity to the logged-in account whose email is ``email``."""
    if not (email or "").strip():
        raise MissingEmail()
    current = getattr(request, "user", None)
    if current is None or not current.is_authenticated:
        raise LtiLoginRequired()
    email_field = current.get_email_field_name()
    if not emails_match(getattr(current, email_field, None), email):
        logger.info(
            "LTI identity not linked: user %s's email differs from the launch's", current.pk
        )
        raise EmailMismatch()
    lti_user = _create_link(lti_consumer, lti_user_id, lambda: current)
    logger.info("LTI identity of consumer %s linked to user %s", lti_consumer.pk, current.pk)
    return lti_user


def create_lti_user(lti_user_id: str, lti_consumer: LtiConsumer) -> LtiUser:
    """Give a new identity a new account: random username, unusable password.

    Retries with another username on a collision; if another request linked
    the identity meanwhile, returns that link.
    """
    for _attempt in range(USERNAME_ATTEMPTS):
        try:
            return _create_link(lti_consumer, lti_user_id, _new_user)
        except IntegrityError:
            logger.info("Username collision creating an LTI user; retrying")
    raise IntegrityError(f"No free username after {USERNAME_ATTEMPTS} attempts")


def random_username() -> str:
    """A username from a CSPRNG, so nobody can predict or pre-register it."""
    return "".join(secrets.choice(_USERNAME_ALPHABET) for _ in range(USERNAME_LENGTH))


def switch_user(request: HttpRequest, lti_user: LtiUser, lti_consumer: LtiConsumer) -> None:
    """Log ``lti_user``'s account in as ``LtiBackend`` would (rotates the session key).

    The caller has just read the link with its account and checked that the
    account is active, which is all ``LtiBackend.authenticate`` checks: the
    login names the backend instead of querying the link a second time.
    """
    if not app_settings.lti_backend_enabled:
        raise ImproperlyConfigured(f"Add {LTI_BACKEND!r} to AUTHENTICATION_BACKENDS.")
    login(request, lti_user.edx_user, backend=LTI_BACKEND)


def _new_user() -> Any:
    user_model = get_user_model()
    username = random_username()
    fields = {
        user_model.USERNAME_FIELD: username,
        user_model.get_email_field_name(): f"{username}@{app_settings.user_email_domain}",
    }
    # No password: create_user stores an unusable one.
    return user_model._default_manager.create_user(password=None, **fields)


def _create_link(
    lti_consumer: LtiConsumer, lti_user_id: str, make_user: Callable[[], Any]
) -> LtiUser:
    """Create the link in a savepoint; on a concurrent duplicate, return the winner's.

    Re-raises ``IntegrityError`` when no link exists (a username collision).
    """
    try:
        with transaction.atomic():
            return LtiUser.objects.create(
                lti_consumer=lti_consumer, lti_user_id=lti_user_id, edx_user=make_user()
            )
    except IntegrityError:
        existing = read_lti_user(lti_consumer, lti_user_id)  # not what was read before
        if existing is None:
            raise
        logger.info("LTI identity linked concurrently; using the existing link")
        return existing
