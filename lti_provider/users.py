"""LTI identities and local accounts: lookup, auto-link by email, creation, login.

An LTI identity is (consumer, instance guid, LTI ``user_id``): the consumer
is the one whose key signed the launch, the guid its
``tool_consumer_instance_guid`` ("" when it sends none), so two LMS
installations sharing a key never share learners. An identity recorded
before the guid was part of it (guid NULL) is taken by its next launch, which
records the guid it comes with: existing learners keep their accounts.
The rules:

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
from django.db.models import Q
from django.http import HttpRequest

from lti_provider.conf import LTI_BACKEND, app_settings
from lti_provider.exceptions import EmailMismatch, InactiveUser, LtiLoginRequired, MissingEmail
from lti_provider.models import LtiConsumer, LtiUser

logger = logging.getLogger(__name__)

USERNAME_LENGTH = 30
USERNAME_ATTEMPTS = 5
_USERNAME_ALPHABET = string.ascii_letters + string.digits


#: The launch parameters the original's API reads from the request when not given.
EMAIL_PARAMETER = "lis_person_contact_email_primary"
INSTANCE_GUID_PARAMETER = "tool_consumer_instance_guid"


def authenticate_lti_user(
    request: HttpRequest,
    lti_user_id: str,
    lti_consumer: LtiConsumer,
    email: str | None = None,
    instance_guid: str | None = None,
) -> Any:
    """Log the LTI identity's account in to ``request``'s session and return it.

    Links or creates the account first when the identity is new (see the
    module docstring). ``email`` is the launch's
    ``lis_person_contact_email_primary`` and ``instance_guid`` its
    ``tool_consumer_instance_guid``; either is read from ``request.POST``
    (the launch) when not given, as the original's
    ``authenticate_lti_user(request, lti_user_id, lti_consumer)`` did. The
    session is switched (and its key rotated) only when its user differs.

    Raises ``InactiveUser``; for a consumer with ``require_user_account``,
    also ``LtiLoginRequired`` (no one logged in), ``EmailMismatch`` (logged in
    with another email) or ``MissingEmail`` (the launch carries none).
    """
    if email is None:
        email = request.POST.get(EMAIL_PARAMETER, "")
    if instance_guid is None:
        instance_guid = request.POST.get(INSTANCE_GUID_PARAMETER, "")
    return authenticate_lti_identity(
        request, lti_user_id, lti_consumer, email, instance_guid
    ).edx_user


def authenticate_lti_identity(
    request: HttpRequest,
    lti_user_id: str,
    lti_consumer: LtiConsumer,
    email: str | None,
    instance_guid: str = "",
) -> LtiUser:
    """``authenticate_lti_user``, returning the identity's ``LtiUser`` (with its account)."""
    lti_user = find_lti_user(lti_consumer, lti_user_id, instance_guid)
    if lti_user is not None and lti_user.instance_guid is None:
        refuse_inactive(lti_user)  # a refused launch takes nothing
        lti_user = claim_legacy_identity(lti_user, instance_guid)
    if lti_user is None:
        if lti_consumer.require_user_account:
            lti_user = link_logged_in_user(request, lti_user_id, lti_consumer, email, instance_guid)
        else:
            lti_user = create_lti_user(lti_user_id, lti_consumer, instance_guid=instance_guid)
    refuse_inactive(lti_user)
    user = lti_user.edx_user
    current = getattr(request, "user", None)
    if not (current is not None and current.is_authenticated and current.pk == user.pk):
        switch_user(request, lti_user, lti_consumer)
    return lti_user


def refuse_inactive(lti_user: LtiUser) -> None:
    """``InactiveUser`` when the identity's account is disabled."""
    if not lti_user.edx_user.is_active:
        logger.info("LTI launch refused: linked user %s is inactive", lti_user.edx_user_id)
        raise InactiveUser()


def find_lti_user(
    lti_consumer: LtiConsumer, lti_user_id: str, instance_guid: str = ""
) -> LtiUser | None:
    """The identity's link with its account, or ``None``.

    When there is no link for this guid, the identity's link recorded before
    the guid was part of it (guid NULL) is returned, if any;
    ``claim_legacy_identity`` then gives it the guid. No query when
    ``lti_consumer`` was loaded with this identity
    (``LtiConsumer.objects.for_launch``, as a verified 1.1 launch is);
    otherwise one, or two when there is no link.
    """
    if (
        lti_user_id
        and lti_consumer.launch_lti_user_id == lti_user_id
        and lti_consumer.launch_instance_guid == instance_guid
    ):
        return getattr(lti_consumer, "launch_lti_user", None)
    lti_user = read_lti_user(lti_consumer, lti_user_id, instance_guid)
    if lti_user is None:
        lti_user = read_lti_user(lti_consumer, lti_user_id, None)
    return lti_user


def read_lti_user(
    lti_consumer: LtiConsumer | int, lti_user_id: str, instance_guid: str | None = ""
) -> LtiUser | None:
    """The identity's link with its account, or ``None``, read now (one query).

    ``instance_guid=None`` reads the identity's legacy link (recorded before
    the guid was part of the identity).
    """
    guid = (
        Q(instance_guid__isnull=True) if instance_guid is None else Q(instance_guid=instance_guid)
    )
    return (
        LtiUser.objects.select_related("edx_user")
        .filter(guid, lti_consumer=lti_consumer, lti_user_id=lti_user_id)
        .first()
    )


def claim_legacy_identity(lti_user: LtiUser, instance_guid: str) -> LtiUser | None:
    """Record ``instance_guid`` on a legacy link (guid NULL): it is this identity's from now on.

    The first launch after the upgrade takes it, with whatever guid it
    carries: before the guid was part of the identity, every launch of the
    key with this ``user_id`` logged in to this account. When a concurrent
    launch took it first, this guid's link is read again; ``None`` when
    there is none (the other launch came with another guid): the identity
    is new.
    """
    claimed = LtiUser.objects.filter(pk=lti_user.pk, instance_guid__isnull=True).update(
        instance_guid=instance_guid
    )
    if claimed:
        lti_user.instance_guid = instance_guid
        logger.info("LTI identity %s now carries its instance guid", lti_user.pk)
        return lti_user
    return read_lti_user(lti_user.lti_consumer_id, lti_user.lti_user_id, instance_guid)


def emails_match(a: str | None, b: str | None) -> bool:
    """Equal emails, ignoring case and surrounding spaces; a blank never matches."""
    left, right = (a or "").strip().casefold(), (b or "").strip().casefold()
    return bool(left) and left == right


def link_logged_in_user(
    request: HttpRequest,
    lti_user_id: str,
    lti_consumer: LtiConsumer,
    email: str | None,
    instance_guid: str = "",
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
    lti_user = _create_link(lti_consumer, lti_user_id, lambda: current, instance_guid)
    logger.info("LTI identity of consumer %s linked to user %s", lti_consumer.pk, current.pk)
    return lti_user


def create_lti_user(
    lti_user_id: str,
    lti_consumer: LtiConsumer,
    email: str | None = None,
    *,
    instance_guid: str = "",
) -> LtiUser:
    """Give a new identity a new account: random username, unusable password.

    The account's email is ``email`` when given (the original's argument)
    and no account has it yet, otherwise ``<username>@LTI_USER_EMAIL_DOMAIN``.
    An email never links an existing account: a consumer asserting someone's
    address must not get their account. Retries with another username on a
    collision; if another request linked the identity meanwhile, returns that
    link.
    """
    email = (email or "").strip()
    if email and _email_in_use(email):
        logger.info("LTI user created with a generated email: the asserted one is in use")
        email = ""
    for _attempt in range(USERNAME_ATTEMPTS):
        try:
            return _create_link(lti_consumer, lti_user_id, lambda: _new_user(email), instance_guid)
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


def _email_in_use(email: str) -> bool:
    user_model = get_user_model()
    lookup = {f"{user_model.get_email_field_name()}__iexact": email}
    return user_model._default_manager.filter(**lookup).exists()


def _new_user(email: str = "") -> Any:
    user_model = get_user_model()
    username = random_username()
    fields = {
        user_model.USERNAME_FIELD: username,
        user_model.get_email_field_name(): email or f"{username}@{app_settings.user_email_domain}",
    }
    # No password: create_user stores an unusable one.
    return user_model._default_manager.create_user(password=None, **fields)


def _create_link(
    lti_consumer: LtiConsumer,
    lti_user_id: str,
    make_user: Callable[[], Any],
    instance_guid: str = "",
) -> LtiUser:
    """Create the link in a savepoint; on a concurrent duplicate, return the winner's.

    Re-raises ``IntegrityError`` when no link exists (a username collision).
    """
    try:
        with transaction.atomic():
            return LtiUser.objects.create(
                lti_consumer=lti_consumer,
                lti_user_id=lti_user_id,
                instance_guid=instance_guid,
                edx_user=make_user(),
            )
    except IntegrityError:
        existing = read_lti_user(lti_consumer, lti_user_id, instance_guid)  # not what was read
        if existing is None:
            raise
        logger.info("LTI identity linked concurrently; using the existing link")
        return existing
