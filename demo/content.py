"""The demo LMS's course content, as launched through LTI (``LTI_PROVIDER['LAUNCH_HANDLER']``).

A launched block is a one-question quiz; answering it stores nothing but
sends ``lti_provider.signals.score_changed``, as a host LMS does when a
grade changes, and the provider passes the score back to every consumer
that asked for it (LTI 1.1 Basic Outcomes, LTI 1.3 AGS).
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey, UsageKey

from demo.seed import DEMO_BLOCKS
from lti_provider.models import GradedAssignment, Lti13GradedAssignment, LtiUser
from lti_provider.signals import score_changed

POINTS_POSSIBLE = 10


class ScoreForm(forms.Form):
    course_id = forms.CharField(widget=forms.HiddenInput)
    usage_id = forms.CharField(widget=forms.HiddenInput)
    points = forms.TypedChoiceField(
        label=f"Points earned (out of {POINTS_POSSIBLE})",
        choices=[(n, str(n)) for n in range(POINTS_POSSIBLE, -1, -1)],
        coerce=int,
        initial=8,
    )

    def clean(self):
        data = super().clean()
        try:
            data["course_key"] = CourseKey.from_string(data.get("course_id", ""))
            data["usage_key"] = UsageKey.from_string(data.get("usage_id", ""))
        except InvalidKeyError as exc:
            raise forms.ValidationError("Unknown course or block.") from exc
        return data


def _page(request: HttpRequest, course_key, usage_key, **extra) -> HttpResponse:
    user = request.user
    context = {
        "course_key": course_key,
        "usage_key": usage_key,
        "title": dict(DEMO_BLOCKS).get(str(usage_key), str(usage_key)),
        "identities": LtiUser.objects.filter(edx_user=user)
        .select_related("lti_consumer")
        .order_by("pk"),
        # Where the score goes: LTI 1.1 outcome services and LTI 1.3 AGS line items.
        "assignments": [
            *GradedAssignment.objects.filter(user=user, usage_key=usage_key).order_by("pk"),
            *Lti13GradedAssignment.objects.filter(user=user, usage_key=usage_key).order_by("pk"),
        ],
        "form": ScoreForm(initial={"course_id": str(course_key), "usage_id": str(usage_key)}),
        **extra,
    }
    return render(request, "demo/lti_content.html", context)


def launch_handler(request: HttpRequest, course_key, usage_key) -> HttpResponse:
    """What a launch shows: the block, who is logged in, their linked LTI identities."""
    return _page(request, course_key, usage_key)


@xframe_options_sameorigin
@login_required
@require_POST
def submit_score(request: HttpRequest) -> HttpResponse:
    """The learner answered: tell the LTI provider the block's score changed."""
    form = ScoreForm(request.POST)
    if not form.is_valid():
        return render(request, "demo/message.html", {"title": "Not sent", "form": form}, status=400)
    data = form.cleaned_data
    with transaction.atomic():  # the passback is queued once this commits
        score_changed.send(
            sender=None,
            user_id=request.user.pk,
            course_id=str(data["course_key"]),
            usage_id=str(data["usage_key"]),
            weighted_earned=data["points"],
            weighted_possible=POINTS_POSSIBLE,
        )
    return _page(
        request,
        data["course_key"],
        data["usage_key"],
        sent=f"{data['points']}/{POINTS_POSSIBLE}",
    )
