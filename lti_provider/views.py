"""HTTP adapters over ``launch.py`` and ``launch13.py``: errors become their status codes."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lti_provider import launch, launch13
from lti_provider.conf import app_settings
from lti_provider.exceptions import LtiError

logger = logging.getLogger(__name__)


@csrf_exempt  # consumers POST cross-site; the OAuth1 signature is the protection
@xframe_options_exempt  # consumers show the content in an iframe
@require_POST
def lti_launch(request: HttpRequest, course_id: str, usage_id: str) -> HttpResponse:
    """An LTI 1.1 basic launch of ``usage_id`` in ``course_id``."""
    try:
        return launch.process_launch(request, course_id, usage_id)
    except LtiError as exc:
        return error_response(request, exc)


@xframe_options_exempt
@require_GET
def lti_launch_resume(request: HttpRequest, token: str) -> HttpResponse:
    """Where the login page sends the learner back to finish a kept launch."""
    if app_settings.enabled and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), app_settings.login_url)
    try:
        return launch.resume_launch(request, token)
    except LtiError as exc:
        return error_response(request, exc)


@csrf_exempt  # platforms POST cross-site; the pending state is the protection
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def lti13_login(request: HttpRequest) -> HttpResponse:
    """LTI 1.3 OIDC third-party initiated login: redirect to the platform's auth URL."""
    try:
        return launch13.initiate_login(request)
    except LtiError as exc:
        return error_response(request, exc)


@csrf_exempt  # the platform POSTs the id_token cross-site; its signature is the protection
@xframe_options_exempt
@require_POST
def lti13_launch(
    request: HttpRequest, course_id: str | None = None, usage_id: str | None = None
) -> HttpResponse:
    """An LTI 1.3 resource link launch (the OIDC redirect URI)."""
    try:
        return launch13.process_launch13(request, course_id, usage_id)
    except LtiError as exc:
        return error_response(request, exc)


@require_GET
def lti13_jwks(request: HttpRequest) -> JsonResponse:
    """The tool's public key set (JWKS), at a stable URL for the platforms."""
    return JsonResponse(launch13.tool_jwks())


@require_GET
def lti13_config(request: HttpRequest) -> JsonResponse:
    """The tool's LTI 1.3 configuration as JSON, for a platform admin to paste."""
    return JsonResponse(launch13.tool_configuration(request), json_dumps_params={"indent": 2})


def default_launch_handler(request: HttpRequest, course_key: Any, usage_key: Any) -> HttpResponse:
    """The default ``LTI_PROVIDER['LAUNCH_HANDLER']``: a page naming what was launched.

    Rendered from its own context only (no context processors run): it needs
    nothing else, and every launch pays for it. Its labels are translated
    here, with ``gettext``: a ``{% translate %}`` tag costs three times as much.
    """
    context = {
        "course_key": course_key,
        "usage_key": usage_key,
        "user": request.user,
        "heading": _("Launched content"),
        "course_label": _("Course"),
        "block_label": _("Block"),
        "learner_label": _("Learner"),
    }
    return HttpResponse(render_to_string("lti_provider/launch.html", context))


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Render one of the provider's pages on ``LTI_PROVIDER['BASE_TEMPLATE']``."""
    page = {"lti_base_template": app_settings.base_template, "user": request.user, **context}
    return render(request, template, page, status=status)


def error_response(request: HttpRequest, exc: LtiError) -> HttpResponse:
    """The page of a refused launch: what went wrong and what the learner can do.

    The message and advice never carry a secret, a signature or another
    account's email.
    """
    logger.info("LTI launch refused (%s): %s", type(exc).__name__, exc.message)
    context = {
        "message": exc.message,
        "error": exc,
        "error_kind": type(exc).__name__,
        "status_code": exc.status_code,
    }
    response = render_page(request, "lti_provider/error.html", context, status=exc.status_code)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response
