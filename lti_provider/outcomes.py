"""LTI 1.1 Basic Outcomes: send a learner's score back to the consumer.

A score goes out as a ``replaceResult`` POX message (XML built and parsed
with lxml), signed OAuth1 HMAC-SHA1 with ``oauth_body_hash`` using the
consumer's key and secret. Outcome URLs come from launches, i.e. from the
outside, so they are validated before any request: https only, public
addresses only (unless the settings allow otherwise, for tests), checked
again on the address connected to (``http.py``), and redirects are never
followed.

``GradedAssignment.version_number`` is raised whenever a score is queued;
a queued send carries the version it was queued with and is dropped once the
row has moved on, so a late, older score never overwrites a newer one.

The original's functions keep their names and signatures (last section):
``store_outcome_parameters``, ``generate_replace_result_xml``,
``sign_and_send_replace_result(assignment, xml)``,
``check_replace_result_response(response)``,
``get_assignments_for_problem(problem_block, user_id, course_key)`` and
``send_score_update``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import requests
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import F, QuerySet
from lxml import etree
from lxml.builder import ElementMaker
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER, Client
from opaque_keys.edx.keys import CourseKey, UsageKey

from .assignments import check_outcome_parameters, record_assignment
from .conf import app_settings
from .exceptions import InvalidOutcomeURL, OutcomeError, OutcomeServiceUnavailable
from .http import PinnedSession, escaped, validate_outcome_url
from .models import GradedAssignment, Lti13GradedAssignment, LtiConsumer, LtiUser

logger = logging.getLogger(__name__)

#: An assignment of either LTI version.
A = TypeVar("A", GradedAssignment, Lti13GradedAssignment)

#: Namespace of the LTI 1.1 Basic Outcomes (POX) messages.
OUTCOMES_NS = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"

#: Block types that contain other blocks: an assignment on one of these is
#: composite and its score is read through ``LTI_PROVIDER['SCORE_READER']``.
COMPOSITE_BLOCK_TYPES = frozenset({"course", "chapter", "sequential", "vertical"})

#: The largest reply read from an outcome service (a POX reply is a few hundred bytes).
MAX_RESPONSE_BYTES = 64 * 1024

# Statuses worth retrying besides 5xx: the service asks us to come back later.
_RETRYABLE_STATUSES = frozenset({408, 429})

_SAFE_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


# --- XML ------------------------------------------------------------------------------


def replace_result_xml(sourcedid: str, score: float, message_identifier: str) -> bytes:
    """The ``replaceResult`` request setting ``sourcedid``'s score (0.0 to 1.0)."""
    score = float(score)
    if not 0.0 <= score <= 1.0:  # also refuses NaN
        raise ValueError(f"An LTI outcome score must be between 0 and 1, got {score!r}.")
    E = ElementMaker(namespace=OUTCOMES_NS, nsmap={None: OUTCOMES_NS})
    envelope = E.imsx_POXEnvelopeRequest(
        E.imsx_POXHeader(
            E.imsx_POXRequestHeaderInfo(
                E.imsx_version("V1.0"),
                E.imsx_messageIdentifier(str(message_identifier)),
            )
        ),
        E.imsx_POXBody(
            E.replaceResultRequest(
                E.resultRecord(
                    E.sourcedGUID(E.sourcedId(sourcedid)),
                    E.result(E.resultScore(E.language("en"), E.textString(repr(score)))),
                )
            )
        ),
    )
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def _read_body(response: requests.Response) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(chunk_size=8192):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise OutcomeError(f"Outcome service reply is larger than {MAX_RESPONSE_BYTES} bytes.")
    return bytes(body)


def raise_for_replace_result(content: bytes) -> None:
    """Raise ``OutcomeError`` unless ``content`` is a POX reply with codeMajor ``success``."""
    try:
        root = etree.fromstring(content, parser=_SAFE_XML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise OutcomeError(f"Outcome service reply is not XML: {escaped(exc)}") from exc
    if root is None:
        raise OutcomeError("Outcome service reply is empty.")
    namespaces = {"ns": OUTCOMES_NS}
    codes = root.xpath("//ns:imsx_codeMajor", namespaces=namespaces)
    if len(codes) != 1:
        raise OutcomeError(
            f"Outcome service reply has {len(codes)} imsx_codeMajor fields, expected one."
        )
    code = (codes[0].text or "").strip()
    if code != "success":
        descriptions = root.xpath("//ns:imsx_description/text()", namespaces=namespaces)
        description = escaped(str(descriptions[0]).strip()) if descriptions else "(none)"
        raise OutcomeError(f"Outcome service answered {escaped(code)}: {description}")


# --- sending --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReplaceResultReply:
    """What an outcome service answered: its status and (for a 2xx, bounded) body."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def post_replace_result(assignment: GradedAssignment, body: bytes) -> ReplaceResultReply:
    """POST the POX ``body`` to the assignment's outcome service, signed with its consumer's
    key and secret (OAuth1 HMAC-SHA1 with ``oauth_body_hash``).

    Raises ``InvalidOutcomeURL`` before any request, and ``requests``'
    exceptions on network errors. Redirects are not followed.
    """
    outcome_service = assignment.outcome_service
    consumer = outcome_service.lti_consumer
    url = outcome_service.lis_outcome_service_url
    validate_outcome_url(url)
    client = Client(
        consumer.consumer_key,
        client_secret=consumer.consumer_secret,
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
    )
    # A non-form body: oauthlib adds oauth_body_hash (base64 SHA-1 of the body).
    uri, headers, _ = client.sign(
        url,
        http_method="POST",
        body=body.decode("utf-8"),
        headers={"Content-Type": "application/xml"},
    )
    with (
        PinnedSession() as session,
        session.post(
            uri,
            data=body,
            headers=headers,
            timeout=app_settings.outcome_timeout,
            allow_redirects=False,
            stream=True,
        ) as response,
    ):
        status = response.status_code
        return ReplaceResultReply(status, _read_body(response) if status < 300 else b"")


def send_replace_result(assignment: GradedAssignment, score: float) -> bool:
    """Send ``score`` for ``assignment`` (a ``replaceResult``); True when it was accepted.

    Raises ``InvalidOutcomeURL`` (before any request), ``OutcomeServiceUnavailable``
    on a network error, a 5xx, 408 or 429 (retry later), ``OutcomeError`` on
    any other refusal, and ``ValueError`` for a score outside 0..1.
    """
    body = replace_result_xml(assignment.lis_result_sourcedid, score, uuid.uuid4().hex)
    url = assignment.outcome_service.lis_outcome_service_url
    try:
        reply = post_replace_result(assignment, body)
    except requests.RequestException as exc:
        raise OutcomeServiceUnavailable(
            f"Outcome service {escaped(url)} could not be reached: {type(exc).__name__}"
        ) from exc
    status = reply.status_code
    if status >= 500 or status in _RETRYABLE_STATUSES:
        raise OutcomeServiceUnavailable(f"Outcome service {escaped(url)} answered HTTP {status}.")
    if status >= 300:
        raise OutcomeError(f"Outcome service {escaped(url)} answered HTTP {status} (not followed).")
    raise_for_replace_result(reply.content)
    return True


def send_score_update(assignment: GradedAssignment, score: float) -> bool:
    """Send ``score`` for ``assignment``; a failure is logged in full, then re-raised.

    The log line has what is needed to fix the score by hand on the consumer.
    """
    return send_and_log("Outcome Service", send_replace_result, assignment, score)


def send_and_log(
    service: str, send: Callable[[Any, float], object], assignment: Any, score: float
) -> bool:
    """``send(assignment, score)``; a failure is logged with what is needed to fix the
    score by hand on the consumer, then re-raised."""
    try:
        send(assignment, score)
    except (OutcomeError, ValueError) as exc:
        logger.error(
            "%s: failed to update the score on the LTI consumer. "
            "Assignment: %s, user: %s, course: %s, usage: %s, score: %s, error: %s",
            service,
            assignment.pk,
            assignment.user_id,
            assignment.course_key,
            assignment.usage_key,
            score,
            exc,
        )
        raise
    logger.info("%s: score %s sent for assignment %s.", service, score, assignment.pk)
    return True


# --- scores and assignments -----------------------------------------------------------


def weighted_score(earned: float, possible: float) -> float:
    """``earned / possible``, 0 when nothing is possible."""
    if not possible:
        return 0.0
    return float(earned) / float(possible)


def read_weighted_score(user_id: int, course_key: CourseKey, usage_key: UsageKey) -> float | None:
    """The learner's current score on a block through ``LTI_PROVIDER['SCORE_READER']``.

    None when the hook has no score for it. Raises ``ImproperlyConfigured``
    when the hook is not set.
    """
    reader = app_settings.score_reader
    if reader is None:
        raise ImproperlyConfigured(
            "LTI_PROVIDER['SCORE_READER'] must name f(user_id, course_key, usage_key) "
            "-> (earned, possible) | None to send composite or resent scores."
        )
    result = reader(user_id, course_key, usage_key)
    if result is None:
        return None
    earned, possible = result
    score = weighted_score(earned, possible)
    if math.isnan(score):
        raise ValueError(f"SCORE_READER returned a non-numeric score {result!r}.")
    return score


def read_assignment_score(assignment: Any) -> float | None:
    """``read_weighted_score`` for the learner and block of ``assignment`` (1.1 or 1.3)."""
    # The key columns are NOT NULL; the field stubs say Optional.
    return read_weighted_score(
        assignment.user_id,
        cast(CourseKey, assignment.course_key),
        cast(UsageKey, assignment.usage_key),
    )


def is_composite(usage_key: UsageKey | None) -> bool:
    """Whether a block contains others (its score is computed, not signalled)."""
    return usage_key is not None and usage_key.block_type in COMPOSITE_BLOCK_TYPES


def assignments_for_score_change(
    user_id: int,
    course_key: CourseKey,
    usage_key: UsageKey,
    model: type[A] = GradedAssignment,  # type: ignore[assignment]
) -> QuerySet[A]:
    """The learner's assignments (of ``model``: 1.1 or 1.3) a change on ``usage_key`` may change.

    The block's own assignments, and the learner's composite assignments in
    the course (a course, chapter, sequential or vertical launched as a whole),
    whose score is then re-read through the score reader hook. Without a
    block tree we cannot tell which containers hold the block, so every
    composite of the course is re-read.
    """
    candidates = model._default_manager.filter(user_id=user_id, course_key=course_key)
    ids = [
        assignment.pk
        for assignment in candidates.only("id", "usage_key")
        if assignment.usage_key == usage_key or is_composite(assignment.usage_key)
    ]
    return model._default_manager.filter(pk__in=ids)


def increment_assignment_versions(
    assignment_ids: Iterable[int],
    model: type[A] = GradedAssignment,  # type: ignore[assignment]
) -> list[A]:
    """Raise the version of each assignment by one, atomically; return the rows.

    The rows are locked (in id order, so concurrent callers cannot deadlock)
    and incremented in the database, so two concurrent score changes get two
    distinct versions and the returned versions are the ones this call set.
    ``model`` is ``GradedAssignment`` (1.1) or ``Lti13GradedAssignment``.
    """
    manager = model._default_manager
    with transaction.atomic():
        ids = list(
            manager.select_for_update()
            .filter(pk__in=list(assignment_ids))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not ids:
            return []
        manager.filter(pk__in=ids).update(version_number=F("version_number") + 1)
        return list(
            manager.filter(pk__in=ids).select_related(*model.passback_related).order_by("pk")
        )


def current_assignment(
    assignment_id: int,
    version: int | None,
    model: type[A] = GradedAssignment,  # type: ignore[assignment]
) -> A | None:
    """The assignment, or None when it is gone or a newer score superseded ``version``."""
    assignment = (
        model._default_manager.select_related(*model.passback_related)
        .filter(pk=assignment_id)
        .first()
    )
    if assignment is None:
        logger.warning("Outcome Service: assignment %s no longer exists.", assignment_id)
        return None
    if version is not None and assignment.version_number != version:
        logger.info(
            "Outcome Service: score of assignment %s (version %s) skipped, "
            "version %s is more recent.",
            assignment_id,
            version,
            assignment.version_number,
        )
        return None
    return assignment


def send_composite_outcome(assignment: GradedAssignment) -> bool:
    """Read a composite assignment's score through the hook and send it.

    Returns False (nothing sent) when the hook has no score for it.
    """
    score = read_assignment_score(assignment)
    if score is None:
        logger.info("Outcome Service: no score to send for assignment %s.", assignment.pk)
        return False
    return send_score_update(assignment, score)


# --- the original's API ---------------------------------------------------------------


def store_outcome_parameters(
    request_params: Mapping[str, Any], user: Any, lti_consumer: LtiConsumer
) -> GradedAssignment | None:
    """Record where to send ``user``'s score, from a launch's parameters (the original's).

    ``request_params`` holds the launch's ``lis_result_sourcedid``,
    ``lis_outcome_service_url``, ``course_key`` and ``usage_key``; with its
    ``user_id``, ``tool_consumer_instance_guid`` and ``resource_link_id`` too,
    the row is the identity's for that resource link, holding the latest
    sourcedid, as a launch records it. Raises ``InvalidLaunchParameter`` for
    values that cannot be kept.
    """
    check_outcome_parameters(request_params)
    lti_user = None
    if request_params.get("user_id"):
        lti_user = LtiUser.objects.filter(
            lti_consumer=lti_consumer,
            lti_user_id=request_params["user_id"],
            instance_guid=request_params.get("tool_consumer_instance_guid") or "",
            edx_user=user,
        ).first()
    return record_assignment(
        lti_consumer,
        user,
        request_params["course_key"],
        request_params["usage_key"],
        request_params.get("lis_result_sourcedid") or "",
        request_params.get("lis_outcome_service_url") or "",
        lti_user=lti_user,
        resource_link_id=request_params.get("resource_link_id") or "",
    )


def generate_replace_result_xml(result_sourcedid: str, score: float) -> bytes:
    """The ``replaceResult`` request for ``score`` (the original's; a fresh message id)."""
    return replace_result_xml(result_sourcedid, score, str(uuid.uuid4()))


def sign_and_send_replace_result(
    assignment: GradedAssignment, xml: bytes | str
) -> ReplaceResultReply | None:
    """Sign ``xml`` with the assignment's consumer and POST it (the original's).

    Returns the reply (``status_code``, ``content``, ``text``), or None when
    the outcome URL is refused (logged); network errors raise ``requests``'
    exceptions, as in the original.
    """
    body = xml.encode("utf-8") if isinstance(xml, str) else xml
    try:
        return post_replace_result(assignment, body)
    except InvalidOutcomeURL as exc:
        logger.warning("Outcome Service: refusing to send a score: %s", exc)
        return None


def check_replace_result_response(response: Any) -> bool:
    """Whether an outcome service's reply (``status_code``, ``content``) is a success.

    The original's: False (logged) for a status other than 200, a reply that
    is not POX XML, or a codeMajor other than ``success``.
    """
    if response.status_code != 200:
        logger.error("Outcome service response: unexpected status %s", response.status_code)
        return False
    try:
        raise_for_replace_result(response.content)
    except OutcomeError as exc:
        logger.error("Outcome service response: %s", exc)
        return False
    return True


def get_assignments_for_problem(
    problem_block: Any, user_id: int, course_key: CourseKey
) -> QuerySet[GradedAssignment]:
    """The learner's assignments on ``problem_block`` or any block above it (the original's).

    ``problem_block`` is a block with ``location`` and ``get_parent()`` (as an
    XBlock), or a ``UsageKey``; a usage key has no parents to follow.
    """
    locations = []
    block = problem_block
    while block is not None:
        locations.append(getattr(block, "location", block))
        get_parent = getattr(block, "get_parent", None)
        block = get_parent() if get_parent is not None else None
    return GradedAssignment.objects.filter(
        user=user_id, course_key=course_key, usage_key__in=locations
    )
