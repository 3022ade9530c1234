"""The learner's pages: verify (take or upload the photos) and status.

They work without JavaScript: the verification page is a plain multipart
form posted to itself, and the status page is rendered on the server. The
shipped script adds camera capture (the frame taken fills the same file
input) and lets the status page follow the review as it happens. Both extend
``VERIFY_STUDENT["BASE_TEMPLATE"]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from . import api, statuses, uploads
from .conf import app_settings
from .exceptions import (
    AttemptInProgressError,
    InvalidPhotoError,
    PhotoStorageError,
    TooManyAttemptsError,
    VerificationUnavailable,
)
from .models import SoftwareSecurePhotoVerification
from .services import IDVerificationService

log = logging.getLogger(__name__)

#: Attempt statuses while the learner waits: the status page follows them.
IN_PROGRESS = (statuses.READY, statuses.SUBMITTED, statuses.MUST_RETRY)


@dataclass(frozen=True)
class LearnerState:
    """Where the learner stands, as the pages show it.

    ``state`` is approved, ready, submitted, must_retry (the last three while
    the review is in progress), must_reverify (denied), expired or none.
    """

    state: str
    status: dict[str, Any]
    attempt: SoftwareSecurePhotoVerification | None

    @property
    def in_progress(self) -> bool:
        return self.state in IN_PROGRESS

    @property
    def may_submit(self) -> bool:
        return self.state in ("none", "must_reverify", "expired")


def learner_state(user: Any) -> LearnerState:
    status: dict[str, Any] = dict(IDVerificationService.user_status(user))
    attempts = IDVerificationService.verifications_for_user(user)
    attempt = attempts[0] if attempts else None
    state = str(status["status"])
    if state == "pending" and attempt is not None and attempt.status in IN_PROGRESS:
        state = attempt.status
    elif state == "pending":
        state = statuses.SUBMITTED
    elif state == "none" and attempt is not None and attempt.status == statuses.READY:
        # Saved but not sent yet (a task queue that was down): it will be.
        state = statuses.READY
    return LearnerState(state, status, attempt)


def _page_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "base_template": app_settings.BASE_TEMPLATE,
        "platform_name": app_settings.platform_name,
        "max_size": uploads.format_size(app_settings.MAX_IMAGE_SIZE),
        "max_bytes": app_settings.MAX_IMAGE_SIZE,
        "page_url": request.path,
        **extra,
    }


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
@csrf_exempt  # checked by _verify, once the photo size limit is installed
def verify(request: HttpRequest) -> HttpResponse:
    """GET: the form (or where the learner stands, if nothing is to be sent). POST: send it."""
    if request.method == "GET":
        return _render_verify(request, learner_state(request.user))
    try:
        limit = uploads.limit_photo_uploads(request)
    except uploads.PhotosTooLarge as exc:
        return _render_verify(request, learner_state(request.user), {"__all__": str(exc)}, 413)
    return _verify(request, limit)


@csrf_protect
def _verify(request: HttpRequest, limit: uploads.PhotoSizeLimitHandler) -> HttpResponse:
    state = learner_state(request.user)
    if not state.may_submit:
        return _render_verify(request, state, status=409)
    errors: dict[str, str] = {}
    photos: dict[str, bytes] = {}
    for field in uploads.PHOTO_FIELDS:
        try:
            photos[field] = uploads.photo_from_request(request, field, limit) or b""
        except InvalidPhotoError as exc:
            errors[field] = str(exc)
    if "face_image" not in errors and not photos.get("face_image"):
        errors["face_image"] = _("Choose or take a photo of your face.")
    if "photo_id_image" not in errors and not photos.get("photo_id_image"):
        errors["photo_id_image"] = _("Choose or take a photo of your ID.")
    if errors:
        return _render_verify(request, state, errors, 400)
    try:
        api.submit_verification(request.user, photos["face_image"], photos["photo_id_image"])
    except InvalidPhotoError as exc:
        return _render_verify(request, state, {"__all__": str(exc)}, 400)
    except AttemptInProgressError:
        # Another submission of this learner's got there first: show where it stands.
        return _render_verify(request, learner_state(request.user), status=409)
    except TooManyAttemptsError as exc:
        response = _render_verify(request, state, {"__all__": str(exc)}, 429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except VerificationUnavailable as exc:
        log.error("Photo verification is not configured: %s", exc)
        message = _("Identity verification is not available on this site yet. Try again later.")
        return _render_verify(request, state, {"__all__": message}, 503)
    except PhotoStorageError:
        log.error("Photo storage failed for user %s.", request.user.pk)
        message = _("Your photos could not be stored. Please try again later.")
        return _render_verify(request, state, {"__all__": message}, 503)
    return redirect(reverse("verify_student_status"), permanent=False)


def _render_verify(
    request: HttpRequest,
    state: LearnerState,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = _page_context(request, learner=state, errors=errors or {})
    return render(request, "verify_student/verify.html", context, status=status)


@login_required
@never_cache
@require_GET
def status(request: HttpRequest) -> HttpResponse:
    """Where the learner's verification stands; follows the review while it is in progress."""
    context = _page_context(request, learner=learner_state(request.user))
    return render(request, "verify_student/status.html", context)
