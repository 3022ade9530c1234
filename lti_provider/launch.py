"""The LTI 1.1 launch flow: parameters -> signature -> consumer -> user -> outcomes -> content.

Every check that can refuse a launch runs before anything is written, and
the writes (consumer guid, user link, outcome rows) share one transaction,
so a refused launch changes nothing in the database.

A launch that needs the learner to log in first (consumer with
``require_user_account``, new identity) is kept server-side under a random
single-use token; the learner is sent to ``LOGIN_URL`` with ``next`` set to
our resume URL, and ``resume_launch`` finishes the launch after the login
without verifying the (already spent) nonce again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
import secrets
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.cache import caches
from django.db import transaction
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.utils.translation import gettext
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey, UsageKey

from lti_provider.ags import record_ags_assignment
from lti_provider.assignments import check_outcome_parameters, record_assignment
from lti_provider.conf import app_settings
from lti_provider.exceptions import (
    EmailMismatch,
    InvalidLaunchKeys,
    InvalidLaunchMessage,
    InvalidLaunchParameter,
    LtiDisabled,
    LtiLoginRequired,
    MissingLaunchParameter,
    PendingLaunchNotFound,
)
from lti_provider.models import GradedAssignment, LtiConsumer, LtiUser
from lti_provider.signals import launch_success
from lti_provider.signature_validator import form_body, verify_launch_signature
from lti_provider.users import authenticate_lti_identity

logger = logging.getLogger(__name__)

#: Launch parameters without which a launch is refused with 400, signed or not.
REQUIRED_PARAMETERS = (
    "roles",
    "context_id",
    "resource_link_id",
    "user_id",
    "lti_message_type",
    "lti_version",
    "oauth_consumer_key",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_nonce",
    "oauth_timestamp",
    "oauth_version",
)
LTI_MESSAGE_TYPE = "basic-lti-launch-request"
LTI_VERSION = "LTI-1p0"
#: Launch parameters stored as they come, and the longest value their columns hold.
_STORED_PARAMETERS = ("user_id", "tool_consumer_instance_guid", "resource_link_id")
_MAX_STORED = 255


@dataclasses.dataclass(frozen=True)
class LaunchData:
    """What a verified launch needs to finish: plain values, cacheable."""

    consumer_id: int
    lti_user_id: str
    course_id: str
    usage_id: str
    email: str = ""
    result_sourcedid: str = ""
    outcome_service_url: str = ""
    # The LMS installation (tenant) the learner comes from: part of the identity.
    instance_guid: str = ""
    resource_link_id: str = ""
    roles: str = ""
    context_id: str = ""
    # (name, value) of the parameters named in LTI_CUSTOM_PARAMS that the launch sent.
    custom_params: tuple[tuple[str, str], ...] = ()
    # LTI 1.3: the AGS line item to send scores to, and the scopes granted.
    ags_lineitem_url: str = ""
    ags_scopes: tuple[str, ...] = ()

    @classmethod
    def of_keys(cls, course_key: CourseKey, usage_key: UsageKey, **fields: Any) -> LaunchData:
        """A launch of ``usage_key`` in ``course_key`` that keeps the parsed keys."""
        launch = cls(course_id=str(course_key), usage_id=str(usage_key), **fields)
        # The cached_property values: shown content needs the keys, not a second parse.
        launch.__dict__.update(course_key=course_key, usage_key=usage_key)
        return launch

    @functools.cached_property
    def course_key(self) -> CourseKey:
        return CourseKey.from_string(self.course_id)

    @functools.cached_property
    def usage_key(self) -> UsageKey:
        return UsageKey.from_string(self.usage_id)


def process_launch(request: HttpRequest, course_id: str, usage_id: str) -> HttpResponse:
    """Run a POSTed launch to the end: the content, or a redirect to log in.

    Raises the ``LtiError`` subclasses the view turns into 400/403/404.
    """
    if not app_settings.enabled:
        raise LtiDisabled()
    params = request.POST
    check_launch_parameters(params)
    signed_by = verify_launch_signature(
        request.build_absolute_uri(), form_items(params), body=form_body(request)
    )
    course_key, usage_key = parse_launch_keys(course_id, usage_id)
    instance_guid = params.get("tool_consumer_instance_guid", "")
    launch = LaunchData.of_keys(
        course_key,
        usage_key,
        consumer_id=signed_by.pk,
        lti_user_id=params["user_id"],
        email=params.get("lis_person_contact_email_primary", ""),
        result_sourcedid=params.get("lis_result_sourcedid", ""),
        outcome_service_url=params.get("lis_outcome_service_url", ""),
        instance_guid=instance_guid,
        resource_link_id=params["resource_link_id"],
        roles=params["roles"],
        context_id=params["context_id"],
        custom_params=custom_parameters(params),
    )
    # A consumer's guid recorded now must not outlive a refusal that follows. With
    # none to record, each later write (user link, session, outcome rows) is its
    # own atomic step taken after the checks that could refuse the launch, so a
    # known learner's launch opens no transaction of its own.
    needs_transaction = bool(instance_guid) and not signed_by.instance_guid
    with transaction.atomic() if needs_transaction else contextlib.nullcontext():
        consumer = resolve_consumer(signed_by, instance_guid)
        login_redirect = link_or_redirect_to_login(request, launch, consumer)
    return login_redirect or show_content(request, launch)


def link_or_redirect_to_login(
    request: HttpRequest, launch: LaunchData, consumer: LtiConsumer
) -> HttpResponse | None:
    """Link the learner and record outcomes; or keep the launch and answer a login redirect.

    Shared by LTI 1.1 and 1.3 launches; the caller holds the transaction.
    """
    try:
        link_and_record(request, launch, consumer)
    except (LtiLoginRequired, EmailMismatch):
        # The learner may hold a matching account: let them log in to it.
        return redirect_to_login(
            reverse("lti_provider_resume", args=[save_pending_launch(launch)]),
            app_settings.login_url,
        )
    return None


def resume_launch(request: HttpRequest, token: str) -> HttpResponse:
    """Finish a launch kept while the learner logged in; the token works once.

    The caller ensures the learner is logged in. A still mismatching email
    is now final: ``EmailMismatch`` (403).
    """
    if not app_settings.enabled:
        raise LtiDisabled()
    launch = pop_pending_launch(token)
    consumer = LtiConsumer.objects.filter(pk=launch.consumer_id).first()
    if consumer is None:
        raise PendingLaunchNotFound()
    with transaction.atomic():
        link_and_record(request, launch, consumer)
    return show_content(request, launch)


def check_launch_parameters(params: QueryDict) -> None:
    """400 for a missing required parameter or a message type/version we do not serve."""
    missing = [name for name in REQUIRED_PARAMETERS if not params.get(name, "").strip()]
    if missing:
        raise MissingLaunchParameter(*missing)
    if params["lti_message_type"] != LTI_MESSAGE_TYPE or params["lti_version"] != LTI_VERSION:
        raise InvalidLaunchMessage()
    # What the database cannot store is refused here, not by a DataError (500) later:
    # PostgreSQL text holds no NUL, and these values go to 255-character columns.
    if any("\x00" in value for _name, value in form_items(params)):
        raise InvalidLaunchMessage(gettext("LTI parameters must not contain NUL characters."))
    too_long = [name for name in _STORED_PARAMETERS if len(params.get(name, "")) > _MAX_STORED]
    if too_long:
        raise InvalidLaunchParameter(
            gettext("LTI parameter(s) longer than %(length)d characters: %(names)s")
            % {"length": _MAX_STORED, "names": ", ".join(too_long)}
        )
    check_outcome_parameters(params)


def form_items(params: QueryDict) -> list[tuple[str, str]]:
    """Every (name, value) pair of the form, repeated names included, as signed."""
    return [(name, value) for name, values in params.lists() for value in values]


def custom_parameters(params: QueryDict) -> tuple[tuple[str, str], ...]:
    """The launch's values of the parameters named in ``LTI_CUSTOM_PARAMS`` (the last of
    a repeated name, as the original read them)."""
    return tuple((name, str(params[name])) for name in app_settings.custom_params if name in params)


@functools.lru_cache(maxsize=4096)
def parse_launch_keys(course_id: str, usage_id: str) -> tuple[CourseKey, UsageKey]:
    """The launch URL's keys; ``InvalidLaunchKeys`` (404) when either does not parse.

    Keys are immutable values and a course's blocks are launched again and
    again, so parsed pairs are kept (a bounded LRU; refusals are not kept).
    """
    try:
        course_key = CourseKey.from_string(course_id)
        usage_key = UsageKey.from_string(usage_id).map_into_course(course_key)
    except InvalidKeyError as exc:
        raise InvalidLaunchKeys() from exc
    return course_key, usage_key


def resolve_consumer(signed_by: LtiConsumer, instance_guid: str | None) -> LtiConsumer:
    """The launch's consumer: the one whose key signed it.

    The instance guid names the LMS installation, which several consumers
    may share: it never picks a consumer, and a guid another consumer
    recorded changes nothing for it. The consumer's first guid is recorded
    (``LtiConsumer.supplement_instance_guid``), for information.
    """
    signed_by.supplement_instance_guid(instance_guid)
    return signed_by


def link_and_record(request: HttpRequest, launch: LaunchData, consumer: LtiConsumer) -> None:
    lti_user = authenticate_lti_identity(
        request, launch.lti_user_id, consumer, launch.email, launch.instance_guid
    )
    record_outcome_service(launch, consumer, lti_user)
    if launch.ags_lineitem_url:
        record_ags_assignment(launch, consumer, lti_user.edx_user)
    if launch.resource_link_id:  # an LTI 1.1 launch
        announce_launch(request, launch, lti_user)


def record_outcome_service(
    launch: LaunchData, consumer: LtiConsumer, lti_user: LtiUser
) -> GradedAssignment | None:
    """Remember where to send this learner's score for the launched block.

    Per identity and resource link, the latest sourcedid only
    (``assignments.record_assignment``).
    """
    return record_assignment(
        consumer,
        lti_user.edx_user,
        launch.course_key,
        launch.usage_key,
        launch.result_sourcedid,
        launch.outcome_service_url,
        lti_user=lti_user,
        resource_link_id=launch.resource_link_id,
    )


def announce_launch(request: HttpRequest, launch: LaunchData, lti_user: LtiUser) -> None:
    """Send ``signals.launch_success`` once the learner is logged in to the launch.

    A receiver that raises is logged; its database work stays in its own
    savepoint, so the launch's records are kept and the content is shown.
    """
    if not launch_success.has_listeners(LtiConsumer):
        return
    launch_params = {
        "user_id": launch.lti_user_id,
        "roles": launch.roles,
        "context_id": launch.context_id,
        "resource_link_id": launch.resource_link_id,
        "tool_consumer_instance_guid": launch.instance_guid,
        **dict(launch.custom_params),
    }
    with transaction.atomic():
        results = launch_success.send_robust(
            sender=LtiConsumer,
            request=request,
            user=lti_user.edx_user,
            lti_user=lti_user,
            course_key=launch.course_key,
            usage_key=launch.usage_key,
            launch_params=launch_params,
        )
    for receiver, result in results:
        if isinstance(result, Exception):  # the learner still gets the content
            logger.error(
                "launch_success receiver %r failed", receiver, exc_info=(type(result), result, None)
            )


def show_content(request: HttpRequest, launch: LaunchData) -> HttpResponse:
    """What the host shows for the launched block (``LTI_PROVIDER['LAUNCH_HANDLER']``)."""
    return app_settings.launch_handler(request, launch.course_key, launch.usage_key)


# --- launches waiting for a login -----------------------------------------------------


def _pending_key(token: str) -> str:
    return "lti_provider:pending:" + hashlib.sha256(token.encode()).hexdigest()


def save_pending_launch(launch: LaunchData) -> str:
    """Keep ``launch`` for ``PENDING_LAUNCH_TTL`` seconds; return its resume token."""
    token = secrets.token_urlsafe(32)
    caches[app_settings.cache_alias].set(
        _pending_key(token), dataclasses.asdict(launch), timeout=app_settings.pending_launch_ttl
    )
    return token


def pop_pending_launch(token: str) -> LaunchData:
    """Take the launch kept under ``token``, once; ``PendingLaunchNotFound`` otherwise.

    Claiming goes through an atomic ``add`` of a spent marker, so two
    concurrent resumes with one token cannot both succeed.
    """
    cache = caches[app_settings.cache_alias]
    key = _pending_key(token)
    if not cache.add(key + ":spent", 1, timeout=app_settings.pending_launch_ttl):
        raise PendingLaunchNotFound()
    data = cache.get(key)
    cache.delete(key)
    if not isinstance(data, dict):
        raise PendingLaunchNotFound()
    return LaunchData(**data)
