"""The demo's start page (the learner's pages are the ones verify_student ships)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from demo.consumer import lti11_consumers
from demo.platform13 import demo_registrations
from demo.seed import DEMO_COURSE
from verify_student import api


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
