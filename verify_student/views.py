"""HTTP endpoints: thin adapters over ``api.py`` and ``services.py``."""

from __future__ import annotations

import json
import logging
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from . import api, fake_reviewer, replay, ssencrypt, uploads
from .conf import app_settings
from .exceptions import (
    AttemptInProgressError,
    InvalidPhotoError,
    PhotoStorageError,
    TooManyAttemptsError,
    VerificationException,
    VerificationUnavailable,
)
from .services import IDVerificationService

log = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = gettext_lazy(
    "Identity verification is not available on this site yet. Try again later."
)
STORAGE_FAILED_MESSAGE = gettext_lazy("Your photos could not be stored. Please try again later.")
#: Who may read another learner's verification status through the API.
VIEW_OTHERS_PERMISSION = "verify_student.view_softwaresecurephotoverification"


#: The answer to an Authorization header that is not exactly ``SSI <access key>:<signature>``
#: (it starts as the original's answer to a wrong access key).
MALFORMED_AUTHORIZATION = (
    'Access key invalid: the Authorization header must be exactly "SSI <access key>:<signature>".'
)


#: The deepest nesting of arrays and objects read from a JSON body. A reviewer's
#: verdict nests a few levels; the signing format recurses into objects.
MAX_JSON_DEPTH = 32
JSON_TOO_DEEP = f"JSON nested too deeply (more than {MAX_JSON_DEPTH} levels)."


class JsonTooDeep(ValueError):
    """A JSON body nests arrays and objects more than ``MAX_JSON_DEPTH`` deep."""


def _parse_json(raw: bytes) -> Any:
    """``json.loads`` of a request body; ``JsonTooDeep`` past ``MAX_JSON_DEPTH`` levels."""
    try:
        value = json.loads(raw)
    except RecursionError as exc:  # deeper than the parser itself can go
        raise JsonTooDeep() from exc
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:  # no recursion: the depth is what is being checked
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise JsonTooDeep()
        pending.extend((child, depth + 1) for child in children)
    return value


def _bad_request(message: str) -> HttpResponseBadRequest:
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


@require_POST
@csrf_exempt  # the reviewer signs its requests; it has no session or CSRF cookie
def results_callback(request: HttpRequest) -> HttpResponse:
    """The review service's signed verdict on one attempt.

    The body's JSON keys and the Date header are signed (HMAC-SHA256); the
    signature and access key are checked in constant time before anything
    is read from the database. The Date must be within ``CALLBACK_MAX_AGE``
    of now, and a verdict already applied is not applied again when its
    signed message is sent again (answered "OK!", changing nothing).
    """
    try:
        body = _parse_json(request.body)
    except JsonTooDeep:
        log.warning("Results callback: JSON nested too deeply (%d bytes).", len(request.body))
        return _bad_request(JSON_TOO_DEEP)
    except (ValueError, UnicodeDecodeError):
        log.warning("Results callback: invalid JSON (%d bytes).", len(request.body))
        return _bad_request("Invalid JSON received.")
    if not isinstance(body, dict):
        return _bad_request("JSON should be dict.")

    headers = {
        "Authorization": request.headers.get("Authorization", ""),
        "Date": request.headers.get("Date", ""),
    }
    credentials = ssencrypt.parse_authorization(headers["Authorization"])
    if credentials is None:
        log.warning("Results callback refused: malformed Authorization header.")
        return _bad_request(MALFORMED_AUTHORIZATION)
    valid = ssencrypt.has_valid_signature(
        "POST",
        headers,
        body,
        app_settings.api_access_key,
        app_settings.api_secret_key,
    )
    if not valid:
        log.warning("Results callback refused: bad access key or signature.")
        return _bad_request("Access key invalid")

    if not _callback_is_fresh(headers["Date"]):
        log.warning("Results callback refused: Date header missing or outside the window.")
        return _bad_request("Date header missing or outside the accepted window.")
    if any("\x00" in value for value in body.values() if isinstance(value, str)):
        # PostgreSQL text cannot hold NUL: refused here rather than by a DataError (500).
        return _bad_request("NUL characters are not allowed.")
    return _apply_once(body, replay.callback_digest(*credentials))


def _apply_once(body: dict[str, Any], digest: str) -> HttpResponse:
    """Apply a verified verdict unless it already was (then "OK!", changing nothing).

    The verdict is remembered in the transaction that applies it: a refused
    verdict leaves nothing, and of two concurrent deliveries one applies it
    (the other waits on the unique index, then finds it applied).
    """
    receipt_id = body.get("EdX-ID")
    try:
        with transaction.atomic():
            replay.remember(digest, 2 * app_settings.CALLBACK_MAX_AGE)
            outcome = api.record_review_result(
                str(receipt_id),
                str(body.get("Result")),
                reason=body.get("Reason", ""),
                message_type=body.get("MessageType", ""),
            )
    except replay.AlreadyApplied:
        # The same signed verdict, sent again: it was applied once, it is not again
        # (so a captured PASS cannot undo a later staff decision).
        log.info("Results callback: a verdict already applied was sent again.")
        return HttpResponse("OK!", content_type="text/plain")
    except api.UnknownResultError as exc:
        return _bad_request(str(exc))
    except api.UnknownReceiptError:
        log.warning("Results callback for an unknown receipt id.")
        return _bad_request(f"edX ID {receipt_id} not found")
    except VerificationException:
        return _bad_request(f"edX ID {receipt_id} is not awaiting review")
    except replay.MemoryUnavailable as exc:
        # Fail closed: a replay cannot be ruled out. The reviewer retries a 5xx.
        log.error("Results callback: the replay memory is unavailable (%s); not applied.", exc)
        return HttpResponse(
            "The verdict could not be checked for replay; send it again later.",
            status=503,
            content_type="text/plain",
        )
    log.info("Results callback: receipt %s -> %s.", receipt_id, outcome.status)
    return HttpResponse("OK!", content_type="text/plain")


def _callback_is_fresh(date_header: str) -> bool:
    """The signed Date is within ``CALLBACK_MAX_AGE`` seconds of now, either way."""
    try:
        sent = parsedate_to_datetime(date_header)
    except (TypeError, ValueError, IndexError):
        return False
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return abs((timezone.now() - sent).total_seconds()) <= app_settings.CALLBACK_MAX_AGE


@require_POST
@never_cache
@csrf_exempt  # checked by _submit_photos, once the photo size limit is installed
def submit_photos(request: HttpRequest) -> HttpResponse:
    """A logged-in learner's face photo (and photo ID, unless re-verifying).

    Images come as multipart files or base64 data URLs. The answer is JSON
    with the attempt's receipt id; the submission to the reviewer follows
    in a task once the attempt is stored. A body too long for two photos is
    refused (413) before it is read.
    """
    if not request.user.is_authenticated:
        return JsonResponse({"error": _("Log in to submit photos.")}, status=401)
    try:
        limit = uploads.limit_photo_uploads(request)
    except uploads.PhotosTooLarge as exc:
        return JsonResponse({"error": str(exc)}, status=413)
    return _submit_photos(request, limit)


@csrf_protect
def _submit_photos(request: HttpRequest, limit: uploads.PhotoSizeLimitHandler) -> HttpResponse:
    try:
        face = uploads.photo_from_request(request, "face_image", limit)
        photo_id = uploads.photo_from_request(request, "photo_id_image", limit)
        if face is None:
            raise InvalidPhotoError(_("A photo of your face is required."))
        attempt = api.submit_verification(request.user, face, photo_id)
    except InvalidPhotoError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except VerificationUnavailable as exc:
        log.error("Photo verification is not configured: %s", exc)
        return JsonResponse({"error": str(UNAVAILABLE_MESSAGE)}, status=503)
    except AttemptInProgressError as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    except TooManyAttemptsError as exc:
        response = JsonResponse({"error": str(exc)}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except PhotoStorageError:
        log.error("Photo storage failed for user %s.", request.user.pk)
        return JsonResponse({"error": str(STORAGE_FAILED_MESSAGE)}, status=503)
    return JsonResponse({"receipt_id": attempt.receipt_id, "status": attempt.status})


@require_GET
@never_cache
def verification_status_api(request: HttpRequest, username: str | None = None) -> HttpResponse:
    """The learner's own status; anyone's (``?username=`` or path) with the view permission.

    ``verify_student.view_softwaresecurephotoverification`` (Django's view
    permission on the attempts) is what shows another learner's attempts,
    denial reasons included, in the admin; ``is_staff`` alone is not enough.
    """
    if not request.user.is_authenticated:
        return JsonResponse({"error": _("Log in to see your verification status.")}, status=401)
    username = username or request.GET.get("username")
    user: Any = request.user
    if username and username != request.user.get_username():
        # The permission that shows the same records (status, denial reason) in the admin.
        if not request.user.has_perm(VIEW_OTHERS_PERMISSION):
            raise PermissionDenied
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            return JsonResponse({"error": _("No user %(name)r.") % {"name": username}}, status=404)
    status = IDVerificationService.user_status(user)
    return JsonResponse(
        {"username": user.get_username(), "is_verified": status["status"] == "approved", **status}
    )


@require_POST
@csrf_exempt  # the submission is HMAC-signed; there is no session
def software_secure_fake_response(request: HttpRequest) -> HttpResponse:
    """The reviewer stand-in (demo and tests): behind ``ENABLE_SOFTWARE_SECURE_FAKE``."""
    if not app_settings.fake_software_secure_enabled:
        raise Http404
    try:
        body = _parse_json(request.body)
    except JsonTooDeep:
        return _bad_request(JSON_TOO_DEEP)
    except (ValueError, UnicodeDecodeError):
        return _bad_request("Invalid JSON received.")
    if not isinstance(body, dict) or not body.get("EdX-ID") or not body.get("SendResponseTo"):
        return _bad_request("A submission needs EdX-ID and SendResponseTo.")
    headers = {
        name: request.headers[name]
        for name in ("Content-Type", "Date", "Authorization")
        if name in request.headers
    }
    if not ssencrypt.has_valid_signature(
        "POST", headers, body, app_settings.api_access_key, app_settings.api_secret_key
    ):
        return HttpResponse("Signature invalid", status=401, content_type="text/plain")
    verdict = fake_reviewer.review(body)
    fake_reviewer.call_back_later(str(body["SendResponseTo"]), str(body["EdX-ID"]), verdict)
    return JsonResponse({"EdX-ID": body["EdX-ID"], "received": True})
