"""The LTI 1.3 launch flow: OIDC login -> id_token -> registration -> user -> AGS -> content.

The checks are pylti1p3's with ours (``lti13.ProviderMessageLaunch``); from
the verified claims on, a 1.3 launch is a ``launch.LaunchData`` like a 1.1
one: the LTI identity is (the registration's consumer, ``sub``), the email is
the ``email`` claim, and linking, login-and-resume, outcome recording and
the content hook are the 1.1 code. Nothing is written before every check
passed, and the writes share one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve, reverse
from django_ratelimit import core as ratelimit

from lti_provider.ags import ags_claim_values
from lti_provider.conf import app_settings
from lti_provider.exceptions import (
    InvalidLaunchKeys,
    InvalidLoginParameter,
    LoginParameterTooLong,
    LtiDisabled,
    MissingLaunchParameter,
    TooManyLogins,
    UnknownDeployment,
)
from lti_provider.launch import (
    LaunchData,
    link_or_redirect_to_login,
    parse_launch_keys,
    show_content,
)
from lti_provider.lti13 import (
    AGS_CLAIM,
    CUSTOM_CLAIM,
    ProviderMessageLaunch,
    ProviderOIDCLogin,
)
from lti_provider.models import Lti13Registration

logger = logging.getLogger(__name__)

#: The URL name whose path is a launch target (``.../lti13/courses/<course>/<usage>``).
TARGET_URL_NAME = "lti_provider_lti13_target"
#: The OIDC login parameters read (and stored, or passed on to the platform).
LOGIN_PARAMETERS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "client_id",
    "lti_deployment_id",
)
#: django-ratelimit's group for the login's counters.
LOGIN_RATE_GROUP = "lti_provider.lti13_login"


def initiate_login(request: HttpRequest) -> HttpResponse:
    """Answer a platform's third-party initiated login with the OIDC auth redirect.

    Refuses (4xx) a client over ``LTI13_LOGIN_RATE`` (429), a parameter
    longer than ``LTI13_LOGIN_MAX_PARAMETER_LENGTH``, a missing
    ``iss``/``login_hint``/``target_link_uri``, an unknown issuer or client
    id, and a deployment id the registration lacks; none of these stores
    anything.
    """
    if not app_settings.enabled:
        raise LtiDisabled()
    limit_login_rate(request)
    check_login_parameters(request)
    login = ProviderOIDCLogin(request)
    registration = login.validate_oidc_login()
    target = request.GET.get("target_link_uri") or request.POST.get("target_link_uri")
    if not target:
        raise MissingLaunchParameter("target_link_uri")
    deployment_id = request.GET.get("lti_deployment_id") or request.POST.get("lti_deployment_id")
    model: Lti13Registration = registration.model  # type: ignore[attr-defined]
    if deployment_id and not model.has_deployment(deployment_id):
        raise UnknownDeployment()
    launch_url = request.build_absolute_uri(reverse("lti_provider_lti13_launch"))
    login.pass_params_to_launch({"registration_id": model.pk, "target_link_uri": target})
    return login.redirect(launch_url)


def limit_login_rate(request: HttpRequest) -> None:
    """Count this login against its client address; ``TooManyLogins`` over the rate.

    The login is the one LTI endpoint that stores something (a login state)
    before anything is verified: the rate bounds what one client can store.
    """
    rate = app_settings.lti13_login_rate
    if rate is None:
        return
    usage = ratelimit.get_usage(
        request, group=LOGIN_RATE_GROUP, key="ip", rate=rate, increment=True
    )
    if usage is not None and usage["should_limit"]:
        logger.info("LTI 1.3 login refused: client over the rate %s", rate)
        raise TooManyLogins(retry_after=max(1, int(usage["time_left"])))


def check_login_parameters(request: HttpRequest) -> None:
    """Refuse a login parameter longer than the setting allows, or holding a NUL."""
    limit = app_settings.lti13_login_max_parameter_length
    for query in (request.GET, request.POST):
        for name in LOGIN_PARAMETERS:
            values = query.getlist(name)
            if any(len(value) > limit for value in values):
                raise LoginParameterTooLong(name, limit)
            if any("\x00" in value for value in values):
                # No issuer or client id holds one, and PostgreSQL text cannot (a 500).
                raise InvalidLoginParameter(name)


def process_launch13(
    request: HttpRequest, course_id: str | None = None, usage_id: str | None = None
) -> HttpResponse:
    """Run a POSTed id_token launch to the end: the content, or a redirect to log in.

    ``course_id``/``usage_id`` come from the URL when the platform posts to a
    target URL; otherwise from the ``course_id``/``usage_id`` custom claim or
    the target link URI. Raises the ``LtiError`` subclasses the view turns
    into 400/403/404.
    """
    if not app_settings.enabled:
        raise LtiDisabled()
    message = ProviderMessageLaunch(request)
    keys: dict[str, str] = {}

    def check_target(claims: Mapping[str, Any]) -> None:
        course, usage = parse_launch_keys(*target_ids(claims, course_id, usage_id))
        keys.update(course_id=str(course), usage_id=str(usage))

    message.validate(before_spending=check_target)
    claims = message.claims
    registration = message.registration
    lineitem, scopes = ags_claim_values(claims.get(AGS_CLAIM))
    launch = LaunchData(
        consumer_id=registration.lti_consumer_id,
        lti_user_id=str(claims["sub"]),
        course_id=keys["course_id"],
        usage_id=keys["usage_id"],
        email=str(claims.get("email") or ""),
        ags_lineitem_url=lineitem,
        ags_scopes=scopes,
    )
    with transaction.atomic():
        login_redirect = link_or_redirect_to_login(request, launch, registration.lti_consumer)
    return login_redirect or show_content(request, launch)


def target_ids(
    claims: Mapping[str, Any], course_id: str | None, usage_id: str | None
) -> tuple[str, str]:
    """(course id, usage id) of a launch: custom claim, then the URL, then the target link URI."""
    custom = claims.get(CUSTOM_CLAIM)
    if isinstance(custom, dict) and custom.get("course_id") and custom.get("usage_id"):
        return str(custom["course_id"]), str(custom["usage_id"])
    if course_id and usage_id:
        return course_id, usage_id
    target = claims.get("https://purl.imsglobal.org/spec/lti/claim/target_link_uri")
    if not isinstance(target, str) or not target:
        raise MissingLaunchParameter("target_link_uri")
    try:
        match = resolve(urlsplit(target).path)
    except Resolver404 as exc:
        raise InvalidLaunchKeys() from exc
    if match.url_name != TARGET_URL_NAME:
        raise InvalidLaunchKeys()
    return match.kwargs["course_id"], match.kwargs["usage_id"]


# --- what a platform admin needs ------------------------------------------------------


def tool_jwks() -> dict[str, list[dict[str, str]]]:
    """The tool's public keys, one per registration, for the platforms to verify us."""
    rows = Lti13Registration.objects.only("key_id", "public_key_pem").order_by("pk")
    return {"keys": [row.public_jwk() for row in rows]}


def tool_configuration(request: HttpRequest) -> dict[str, Any]:
    """The tool's settings as a platform admin pastes them (IMS dynamic registration names)."""

    def url(name: str, *args: str) -> str:
        return request.build_absolute_uri(reverse(name, args=args))

    launch_url = url("lti_provider_lti13_launch")
    return {
        "application_type": "web",
        "client_name": app_settings.lti13_tool_title,
        "title": app_settings.lti13_tool_title,
        "grant_types": ["client_credentials", "implicit"],
        "response_types": ["id_token"],
        "token_endpoint_auth_method": "private_key_jwt",
        "initiate_login_uri": url("lti_provider_lti13_login"),
        "oidc_initiation_url": url("lti_provider_lti13_login"),
        "redirect_uris": [launch_url],
        "target_link_uri": launch_url,
        "jwks_uri": url("lti_provider_lti13_jwks"),
        "public_jwk_url": url("lti_provider_lti13_jwks"),
        "scope": " ".join(
            [
                "https://purl.imsglobal.org/spec/lti-ags/scope/score",
                "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
            ]
        ),
        "scopes": [
            "https://purl.imsglobal.org/spec/lti-ags/scope/score",
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
        ],
        "claims": ["iss", "sub", "email", "name"],
        "target_link_uri_pattern": url(TARGET_URL_NAME, "COURSE_ID", "USAGE_ID"),
        "custom_fields": {"course_id": "COURSE_ID", "usage_id": "USAGE_ID"},
        "https://purl.imsglobal.org/spec/lti-tool-configuration": {
            "domain": request.get_host(),
            "target_link_uri": launch_url,
            "claims": ["iss", "sub", "email", "name"],
            "messages": [{"type": "LtiResourceLinkRequest", "target_link_uri": launch_url}],
        },
    }
