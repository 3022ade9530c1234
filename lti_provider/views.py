"""HTTP adapters over ``launch.py``: errors become their documented status codes."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from lti_provider import launch
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


def default_launch_handler(request: HttpRequest, course_key: Any, usage_key: Any) -> HttpResponse:
    """The default ``LTI_PROVIDER['LAUNCH_HANDLER']``: a page naming what was launched."""
    return render(
        request,
        "lti_provider/launch.html",
        {"course_key": course_key, "usage_key": usage_key, "user": request.user},
    )


def error_response(request: HttpRequest, exc: LtiError) -> HttpResponse:
    """A plain page for a refused launch (the message never carries a secret)."""
    logger.info("LTI launch refused (%s): %s", type(exc).__name__, exc.message)
    return render(
        request,
        "lti_provider/error.html",
        {"message": exc.message, "error": exc},
        status=exc.status_code,
    )
