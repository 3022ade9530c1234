"""The admin's review page of one attempt: decrypted photos, approve / deny, who viewed.

Photos are decrypted in memory (``review.py``) for staff holding
``verify_student.review_photos`` and served with ``Cache-Control: no-store``;
each image served is logged in ``PhotoReviewAccess``. Mixed into the attempt's
``ModelAdmin`` (``admin.py``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import api, review, statuses
from .exceptions import VerificationException
from .models import SoftwareSecurePhotoVerification

REVIEW_PERMISSION = "verify_student.review_photos"
Attempt = SoftwareSecurePhotoVerification

_PAST = {
    "approve": gettext_lazy("approved"),
    "deny": gettext_lazy("denied"),
    "retry": gettext_lazy("marked for retry"),
    "resubmit": gettext_lazy("queued for resubmission"),
}


class DenyReasonForm(forms.Form):
    """The reason a denial is given; the learner is shown it."""

    reason = forms.CharField(
        label=gettext_lazy("Reason for the denial"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
    )


def photos_deleted_note(attempt: Attempt) -> str:
    """``Photos deleted on <date> (...)``: deleted on purpose, not missing from storage."""
    assert attempt.photos_deleted_at is not None
    when = date_format(timezone.localtime(attempt.photos_deleted_at), "DATETIME_FORMAT")
    if attempt.retired_at:
        return _("Photos deleted on %(date)s (account retirement)") % {"date": when}
    return _("Photos deleted on %(date)s (retention period over)") % {"date": when}


class PhotoReviewMixin(admin.ModelAdmin):
    """The review page and its image URLs, for the attempt's ``ModelAdmin``."""

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/review/", wrap(self.review_view), name=f"{prefix}_review"),
            path(
                "<path:object_id>/review/<str:image>/",
                wrap(self.review_image_view),
                name=f"{prefix}_review_image",
            ),
            *super().get_urls(),
        ]

    def _review_url(self, pk: Any, image: str | None = None) -> str:
        prefix = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}"
        if image is None:
            return reverse(f"{prefix}_review", args=[pk])
        return reverse(f"{prefix}_review_image", args=[pk, image])

    def _reviewable_attempt(self, request: HttpRequest, object_id: str) -> Attempt:
        if not request.user.has_perm(REVIEW_PERMISSION):
            raise PermissionDenied
        attempt = self.get_object(request, unquote(object_id))
        if attempt is None:
            raise Http404(_("No such verification attempt."))
        return attempt

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The attempt, its decrypted photos, approve / deny, and who viewed and decided."""
        attempt = self._reviewable_attempt(request, object_id)
        can_decide = self.has_change_permission(request, attempt)
        deny_form = DenyReasonForm()
        if request.method == "POST":
            if not can_decide:
                raise PermissionDenied
            decision = request.POST.get("decision")
            if decision == "approve":
                return self._decide_on_review_page(request, attempt, "approve")
            if decision == "deny":
                deny_form = DenyReasonForm(request.POST)
                if deny_form.is_valid():
                    reason = deny_form.cleaned_data["reason"]
                    return self._decide_on_review_page(request, attempt, "deny", reason)
            else:
                self.message_user(request, _("Unknown decision."), messages.ERROR)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Review verification attempt %(id)s") % {"id": attempt.pk},
            "opts": self.opts,
            "original": attempt,
            "photos": self._photos(attempt),
            "photo_id_review": review.photo_id_review_enabled(),
            "can_decide": can_decide and attempt.status in statuses.ALLOWED_FROM["deny"],
            "deny_form": deny_form,
            "history": attempt.history.select_related("history_user", "reviewing_user")[:50],
            "accesses": attempt.review_accesses.select_related("user")[:50],
        }
        return TemplateResponse(request, "verify_student/admin/review.html", context)

    def _photos(self, attempt: Attempt) -> list[dict[str, str]]:
        if attempt.photos_deleted_at:  # no storage call: they are gone on purpose
            return [
                {"label": label, "problem": f"{photos_deleted_note(attempt)}.", "url": ""}
                for label in (_("face photo"), _("photo ID"))
            ]
        return [
            {
                "label": photo.label,
                "problem": photo.problem,
                "url": self._review_url(attempt.pk, photo.image) if photo.available else "",
            }
            for photo in review.reviewable_photos(attempt)
        ]

    def _decide_on_review_page(
        self, request: HttpRequest, attempt: Attempt, decision: str, reason: str = ""
    ) -> HttpResponse:
        attempt._history_user = request.user  # type: ignore[attr-defined]
        try:
            api.review_attempt(attempt, decision, request.user, reason)
        except VerificationException as exc:
            message = _("Not %(past)s: %(error)s") % {"past": _PAST[decision], "error": exc}
            self.message_user(request, message, messages.ERROR)
        else:
            message = _("Attempt %(id)s %(past)s.") % {"id": attempt.pk, "past": _PAST[decision]}
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(self._review_url(attempt.pk))

    def review_image_view(self, request: HttpRequest, object_id: str, image: str) -> HttpResponse:
        """One decrypted image, straight from memory; never cached, every serving logged."""
        attempt = self._reviewable_attempt(request, object_id)
        if image not in review.IMAGES:
            raise Http404(_("No such image."))
        if attempt.photos_deleted_at:
            photo = review.ReviewPhoto(image, problem=f"{photos_deleted_note(attempt)}.")
        else:
            photo = review.load_photo(attempt, image)
        if photo.available:
            review.record_view(attempt, request.user, image)
            response = HttpResponse(photo.data, content_type=photo.content_type)
            response["Content-Disposition"] = "inline"
        else:
            response = HttpResponse(
                photo.problem, content_type="text/plain; charset=utf-8", status=404
            )
        response["X-Content-Type-Options"] = "nosniff"
        add_never_cache_headers(response)
        return response
