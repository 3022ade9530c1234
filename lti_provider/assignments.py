"""Where a learner's LTI 1.1 score goes: outcome services and graded assignments.

A launch with ``lis_result_sourcedid`` and ``lis_outcome_service_url`` asks
for the learner's score on the launched block. The outcome service is
recorded per consumer and URL, so the consumers of one LMS may share its
service URL and none can take another's. The assignment is recorded per LTI
identity and ``resource_link_id``: a consumer may send a new sourcedid at
each launch (Moodle does), and the LTI 1.1 specification asks the tool to
keep only the most recent one per resource link and user. So a relaunch
replaces the sourcedid (and the service URL and block, if they changed) of
the row, and one score is one ``replaceResult``.

Values the columns cannot hold are refused at the launch
(``check_outcome_parameters``), never dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext
from opaque_keys.edx.keys import CourseKey, UsageKey

from .exceptions import InvalidLaunchParameter, InvalidOutcomeURL
from .http import validate_outcome_url
from .models import (
    MAX_OUTCOME_URL_LENGTH,
    MAX_SOURCEDID_LENGTH,
    GradedAssignment,
    LtiConsumer,
    LtiUser,
    OutcomeService,
)

logger = logging.getLogger(__name__)

SOURCEDID = "lis_result_sourcedid"
OUTCOME_URL = "lis_outcome_service_url"
# Printable ASCII: a URL is ASCII (RFC 3986), and its column's index holds 1023 bytes.
_URL_CHARACTERS = frozenset(chr(code) for code in range(0x21, 0x7F))


def check_outcome_parameters(params: Mapping[str, str]) -> None:
    """``InvalidLaunchParameter`` (400) for outcome parameters that could not be kept.

    Only a launch that asks for a score (``lis_result_sourcedid``) keeps
    them: the sourcedid up to ``MAX_SOURCEDID_LENGTH`` characters, the URL up
    to the 1023 characters the LTI 1.1 implementation guide allows, in
    printable ASCII.
    """
    sourcedid = params.get(SOURCEDID) or ""
    if not sourcedid:
        return
    if len(sourcedid) > MAX_SOURCEDID_LENGTH:
        raise InvalidLaunchParameter(
            gettext("%(name)s is %(length)d characters long; this site keeps at most %(most)d.")
            % {"name": SOURCEDID, "length": len(sourcedid), "most": MAX_SOURCEDID_LENGTH}
        )
    url = params.get(OUTCOME_URL) or ""
    if len(url) > MAX_OUTCOME_URL_LENGTH:
        raise InvalidLaunchParameter(
            gettext("%(name)s is %(length)d characters long; LTI 1.1 allows at most %(most)d.")
            % {"name": OUTCOME_URL, "length": len(url), "most": MAX_OUTCOME_URL_LENGTH}
        )
    if not _URL_CHARACTERS.issuperset(url):
        raise InvalidLaunchParameter(
            gettext(
                "%(name)s must be a URL of printable ASCII characters "
                "(spaces and other characters percent-encoded)."
            )
            % {"name": OUTCOME_URL}
        )


def outcome_service_for(consumer: LtiConsumer, url: str) -> OutcomeService:
    """The consumer's outcome service at ``url``, recorded on first use (race-safe)."""
    service, _created = OutcomeService.objects.get_or_create(
        lti_consumer=consumer, lis_outcome_service_url=url
    )
    return service


def record_assignment(
    consumer: LtiConsumer,
    user: Any,
    course_key: CourseKey,
    usage_key: UsageKey,
    sourcedid: str,
    url: str,
    lti_user: LtiUser | None = None,
    resource_link_id: str = "",
) -> GradedAssignment | None:
    """Remember where to send this learner's score for the block; None when it cannot.

    With the launch's identity (``lti_user``) and ``resource_link_id``, one
    row per both, holding the latest sourcedid; without them (the original's
    ``store_outcome_parameters`` called without a ``user_id``), one row per
    outcome service and sourcedid. Without a sourcedid nothing is asked;
    without an outcome URL, or with one the URL rules refuse, nothing can be
    sent (logged).
    """
    if not sourcedid:
        return None
    if not url:
        logger.info("LTI launch has a result sourcedid but no outcome service URL")
        return None
    try:
        validate_outcome_url(url)
    except InvalidOutcomeURL as exc:
        logger.warning("LTI outcome service URL refused: %s", exc)
        return None
    service = outcome_service_for(consumer, url)
    values = {
        "outcome_service": service,
        "lis_result_sourcedid": sourcedid,
        "user": user,
        "course_key": course_key,
        "usage_key": usage_key,
    }
    if lti_user is None or not resource_link_id:
        assignment, _created = GradedAssignment.objects.get_or_create(
            outcome_service=service,
            lis_result_sourcedid=sourcedid,
            lti_user=None,
            defaults=values,
        )
        return assignment
    key = {"lti_user": lti_user, "resource_link_id": resource_link_id}
    found = GradedAssignment.objects.filter(**key).first() or adopt_legacy_assignment(
        service, user, course_key, usage_key, key
    )
    if found is None:
        try:
            with transaction.atomic():
                return GradedAssignment.objects.create(**key, **values)
        except IntegrityError:
            found = GradedAssignment.objects.filter(**key).first()  # a concurrent launch
            if found is None:
                raise
    return _refresh(found, values)


def adopt_legacy_assignment(
    service: OutcomeService,
    user: Any,
    course_key: CourseKey,
    usage_key: UsageKey,
    key: dict[str, Any],
) -> GradedAssignment | None:
    """The learner's row for this block recorded before resource links were kept, now keyed.

    The newest such row of the outcome service (the upgrade migration kept
    only that one), so the learner's first launch after the upgrade
    continues it instead of adding a second row that would be sent too.
    """
    legacy = (
        GradedAssignment.objects.filter(
            outcome_service=service,
            lti_user__isnull=True,
            user=user,
            course_key=course_key,
            usage_key=usage_key,
        )
        .order_by("-pk")
        .first()
    )
    if legacy is None:
        return None
    taken = GradedAssignment.objects.filter(pk=legacy.pk, lti_user__isnull=True).update(**key)
    if not taken:
        return None
    for name, value in key.items():
        setattr(legacy, name, value)
    return legacy


def _refresh(assignment: GradedAssignment, values: dict[str, Any]) -> GradedAssignment:
    """Write what the launch changed (usually the sourcedid, or nothing)."""
    changed = []
    for name, value in values.items():
        relation = name in ("outcome_service", "user")
        current = getattr(assignment, f"{name}_id" if relation else name)
        wanted = value.pk if relation else value
        if current != wanted:
            setattr(assignment, name, value)
            changed.append(name)
    if changed:
        assignment.save(update_fields=changed)
    return assignment
