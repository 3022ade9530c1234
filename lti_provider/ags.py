"""LTI 1.3 Assignment and Grade Services: record where scores go, and send them.

A launch whose AGS endpoint claim names a line item and grants the score
scope records an ``Lti13GradedAssignment``. When the host sends
``score_changed``, the score is POSTed to that line item's ``/scores`` by
pylti1p3's ``AssignmentsGradesService``, with an access token obtained by
a client-credentials grant whose assertion is a JWT signed with the tool's
private key (pylti1p3's ``ServiceConnector``). Every request goes through
``http.GuardedSession`` (the 1.1 outcome URL rules, an overall deadline, no
redirects); failures map to the 1.1 outcome exceptions, so the Celery tasks
retry them alike.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import requests
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.service_connector import ServiceConnector

from .exceptions import InvalidOutcomeURL, OutcomeError, OutcomeServiceUnavailable
from .http import GuardedSession, escaped
from .lti13 import PlatformRegistration
from .models import Lti13GradedAssignment, Lti13Registration, LtiConsumer
from .outcomes import read_assignment_score, send_and_log, validate_outcome_url

if TYPE_CHECKING:
    from .launch import LaunchData

logger = logging.getLogger(__name__)

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
#: Longest line item URL the assignment column holds.
_MAX_LINEITEM_URL = 1024
# Statuses worth retrying besides 5xx, as for 1.1.
_RETRYABLE_STATUSES = frozenset({408, 429})


def ags_claim_values(claim: Any) -> tuple[str, tuple[str, ...]]:
    """(line item URL, scopes) of an AGS endpoint claim; blanks when unusable."""
    if not isinstance(claim, dict):
        return "", ()
    lineitem = claim.get("lineitem")
    scopes = claim.get("scope")
    if not isinstance(lineitem, str) or not isinstance(scopes, list):
        return "", ()
    return lineitem, tuple(str(scope) for scope in scopes)


def record_ags_assignment(
    launch: LaunchData, consumer: LtiConsumer, user: Any
) -> Lti13GradedAssignment | None:
    """Remember the launch's line item for this learner and block (idempotent).

    Skipped (logged) without the score scope or with a refused URL: the
    content can still be shown. A relaunch refreshes the scopes.
    """
    url, scopes = launch.ags_lineitem_url, list(launch.ags_scopes)
    if SCORE_SCOPE not in scopes:
        logger.info("LTI 1.3 launch has a line item but no score scope; not recorded")
        return None
    if len(url) > _MAX_LINEITEM_URL:
        logger.warning("LTI 1.3 line item URL too long to record; skipped")
        return None
    try:
        validate_outcome_url(url)
    except InvalidOutcomeURL as exc:
        logger.warning("LTI 1.3 line item URL refused: %s", exc)
        return None
    registration = Lti13Registration.objects.filter(lti_consumer=consumer).first()
    if registration is None:
        return None
    assignment, created = Lti13GradedAssignment.objects.get_or_create(
        registration=registration,
        lineitem_url=url,
        lti_user_id=launch.lti_user_id,
        defaults={
            "user": user,
            "course_key": launch.course_key,
            "usage_key": launch.usage_key,
            "scopes": scopes,
        },
    )
    if not created and assignment.scopes != scopes:
        assignment.scopes = scopes
        assignment.save(update_fields=["scopes"])
    return assignment


def score_grade(lti_user_id: str, score: float) -> Grade:
    """The AGS score message: ``score`` out of 1, completed and fully graded, as of now."""
    score = float(score)
    if not 0.0 <= score <= 1.0:  # also refuses NaN
        raise ValueError(f"An LTI score must be between 0 and 1, got {score!r}.")
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    return (
        Grade()
        .set_score_given(score)
        .set_score_maximum(1.0)
        .set_activity_progress("Completed")
        .set_grading_progress("FullyGraded")
        .set_timestamp(timestamp)
        .set_user_id(lti_user_id)
    )


def post_score(assignment: Lti13GradedAssignment, score: float) -> bool:
    """POST ``score`` to the assignment's line item; True when the platform accepted it.

    Raises ``InvalidOutcomeURL`` (before any request), ``OutcomeServiceUnavailable``
    (network error, 5xx, 408, 429: retry later), ``OutcomeError`` (any other
    refusal, from the token or score endpoint) or ``ValueError``.
    """
    registration = assignment.registration
    grade = score_grade(assignment.lti_user_id, score)
    # Both URLs first: refuse before anything (token request included) goes out.
    validate_outcome_url(assignment.lineitem_url)
    validate_outcome_url(registration.auth_token_url)
    with GuardedSession() as session:
        connector = ServiceConnector(PlatformRegistration(registration), session)
        service = AssignmentsGradesService(
            connector,
            cast(Any, {"scope": list(assignment.scopes), "lineitem": assignment.lineitem_url}),
        )
        try:
            service.put_grade(grade)
        except requests.RequestException as exc:
            raise OutcomeServiceUnavailable(
                f"AGS endpoint of {registration} could not be reached: {type(exc).__name__}"
            ) from exc
        except LtiServiceException as exc:
            status = exc.response.status_code
            url = exc.response.url
            if status >= 500 or status in _RETRYABLE_STATUSES:
                raise OutcomeServiceUnavailable(f"{escaped(url)} answered HTTP {status}.") from exc
            raise OutcomeError(f"{escaped(url)} answered HTTP {status}.") from exc
        except (LtiException, KeyError, ValueError) as exc:
            # A missing scope, or a token reply without an access_token.
            raise OutcomeError(f"AGS score not sent: {type(exc).__name__}: {escaped(exc)}") from exc
    return True


def send_ags_score(assignment: Lti13GradedAssignment, score: float) -> bool:
    """Send ``score`` for ``assignment``; a failure is logged in full, then re-raised."""
    return send_and_log("AGS", post_score, assignment, score)


def send_ags_composite_score(assignment: Lti13GradedAssignment) -> bool:
    """Read a composite assignment's score through the host's hook and send it."""
    score = read_assignment_score(assignment)
    if score is None:
        logger.info("AGS: no score to send for LTI 1.3 assignment %s.", assignment.pk)
        return False
    return send_ags_score(assignment, score)
