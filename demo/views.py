"""The demo's own pages: the start page and the learner's verification page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from demo.consumer import lti11_consumers
from demo.platform13 import demo_registrations
from demo.seed import DEMO_COURSE
from verify_student import api
from verify_student.services import IDVerificationService


def index(request: HttpRequest) -> HttpResponse:
    """The start page: the three journeys."""
    return render(
        request,
        "demo/index.html",
        {
            "course_id": DEMO_COURSE,
            "deadline": api.deadline_for_course(DEMO_COURSE),
            "consumers": lti11_consumers(),
            "registrations": demo_registrations(),
        },
    )


@login_required
@ensure_csrf_cookie
@never_cache
def verify(request: HttpRequest) -> HttpResponse:
    """Take or upload a face photo and an ID photo, submit them, watch the status."""
    return render(
        request,
        "demo/verify.html",
        {
            "course_id": DEMO_COURSE,
            "deadline": api.deadline_for_course(DEMO_COURSE),
            "status": IDVerificationService.user_status(request.user),
        },
    )


@login_required
@require_GET
@never_cache
def latest_attempt(request: HttpRequest) -> HttpResponse:
    """The learner's newest attempt's own status (ready, submitted, approved...).

    ``verification_status_api`` answers pending for both ready and submitted;
    the page shows the attempt's steps as well.
    """
    attempts = IDVerificationService.verifications_for_user(request.user)
    if not attempts:
        return JsonResponse({"attempt": None})
    attempt = attempts[0]
    return JsonResponse({"attempt": {"receipt_id": attempt.receipt_id, "status": attempt.status}})
