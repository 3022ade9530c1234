"""Staff pages: verification attempts and their review, deadlines, checkpoints, settings.

An attempt's status is changed only by its state machine, through
``api.review_attempt`` and ``api.resubmit``: the change form shows it read
only, the actions report per row what happened (a refused transition is a
message, never an error page), and reverting to a historical version is
disabled. The review page (``admin_review.py``) decrypts the photos in memory for
staff holding ``verify_student.review_photos``; each image served is logged
in ``PhotoReviewAccess``. The sealed photo-ID key is never shown. Photos
deleted on purpose (retention, retirement) are reported as such, with the
date. Staff holding ``verify_student.export_verification_data`` may download
the selected learners' records as JSON (``api.export_user_verification_data``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from config_models.admin import ConfigurationModelAdmin
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from simple_history.admin import SimpleHistoryAdmin

from . import api
from .admin_review import (
    _PAST,
    REVIEW_PERMISSION,
    DenyReasonForm,
    PhotoReviewMixin,
    photos_deleted_note,
)
from .exceptions import VerificationException
from .models import (
    IcrvStatusEmailsConfiguration,
    InCourseReverificationConfiguration,
    PhotoReviewAccess,
    SkippedReverification,
    SoftwareSecurePhotoVerification,
    VerificationCheckpoint,
    VerificationDeadline,
    VerificationStatus,
)

log = logging.getLogger(__name__)

EXPORT_PERMISSION = "verify_student.export_verification_data"
Attempt = SoftwareSecurePhotoVerification


class AttemptForm(forms.ModelForm):
    """The few fields staff may edit; the re-used ID photo must be the learner's own."""

    class Meta:
        model = SoftwareSecurePhotoVerification
        fields = ("name", "copy_id_photo_from", "display")

    def clean_copy_id_photo_from(self) -> Attempt | None:
        source = self.cleaned_data.get("copy_id_photo_from")
        if source is not None and (
            source.pk == self.instance.pk or source.user_id != self.instance.user_id
        ):
            raise forms.ValidationError(_("Choose another attempt of the same learner."))
        return source


def _state(attempt: Attempt) -> tuple[Any, ...]:
    return (attempt.status, attempt.error_msg, attempt.error_code, attempt.reviewing_user_id)


def _short_datetime(value: Any) -> str:
    """``2026-12-02 14:46`` in the current time zone (a list column, not a sentence)."""
    return date_format(localtime(value), "Y-m-d H:i") if value else "-"


def _describe(attempt: Attempt) -> str:
    return _("%(id)s (%(username)s, receipt %(receipt)s)") % {
        "id": attempt.pk,
        "username": attempt.user.get_username(),
        "receipt": attempt.receipt_id,
    }


@admin.register(SoftwareSecurePhotoVerification)
class SoftwareSecurePhotoVerificationAdmin(PhotoReviewMixin, SimpleHistoryAdmin):
    # Short columns, the Review link early: the list fits 1280 px beside the filters.
    list_display = ("id", "user", "status", "receipt_id", "submitted", "updated")
    list_filter = ("status", "created_at", "submitted_at", "updated_at")
    search_fields = ("receipt_id", "user__username", "user__email")
    raw_id_fields = ("user", "reviewing_user", "copy_id_photo_from")
    list_select_related = ("user",)
    date_hierarchy = "submitted_at"
    history_list_display = ("status", "reviewing_user", "reviewing_service", "error_msg")
    actions = (
        "approve_attempts",
        "deny_attempts",
        "retry_attempts",
        "resubmit_attempts",
        "export_verification_data",
    )
    change_form_template = "verify_student/admin/attempt_change_form.html"
    form = AttemptForm
    exclude = ("photo_id_key",)
    fieldsets = (
        (None, {"fields": ("user", "name", "status", "status_changed", "receipt_id")}),
        (gettext_lazy("Dates"), {"fields": ("created_at", "submitted_at", "updated_at")}),
        (
            gettext_lazy("Decision"),
            {"fields": ("reviewing_user", "reviewing_service", "error_code", "error_msg")},
        ),
        (
            gettext_lazy("Photos"),
            {
                "fields": (
                    "sealed_id_key_state",
                    "copy_id_photo_from",
                    "face_image_url",
                    "photo_id_image_url",
                    "display",
                    "photos_deleted_at",
                    "retired_at",
                )
            },
        ),
    )
    # Everything the state machine or the submission sets; staff may correct the
    # legal name, the attempt whose ID photo is re-used, and the display flag.
    readonly_fields = (
        "user",
        "status",
        "status_changed",
        "receipt_id",
        "created_at",
        "submitted_at",
        "updated_at",
        "reviewing_user",
        "reviewing_service",
        "error_code",
        "error_msg",
        "sealed_id_key_state",
        "face_image_url",
        "photo_id_image_url",
        "photos_deleted_at",
        "retired_at",
    )

    # -- pages ----------------------------------------------------------------------
    def has_add_permission(self, request: HttpRequest) -> bool:
        # Attempts come from learners' submissions (or manual_verifications).
        return False

    def get_list_display(self, request: HttpRequest) -> Any:
        if request.user.has_perm(REVIEW_PERMISSION):
            first = self.list_display[: self.list_display.index("status") + 1]
            return (*first, "review_link", *self.list_display[len(first) :])
        return self.list_display

    @admin.display(description=gettext_lazy("Review"))
    def review_link(self, attempt: Attempt) -> str:
        return format_html('<a href="{}">{}</a>', self._review_url(attempt.pk), _("Review"))

    @admin.display(description=gettext_lazy("Submitted"), ordering="submitted_at")
    def submitted(self, attempt: Attempt) -> str:
        return _short_datetime(attempt.submitted_at)

    @admin.display(description=gettext_lazy("Updated"), ordering="updated_at")
    def updated(self, attempt: Attempt) -> str:
        return _short_datetime(attempt.updated_at)

    @admin.display(description=gettext_lazy("Sealed photo-ID key"))
    def sealed_id_key_state(self, attempt: Attempt) -> str:
        if attempt.photos_deleted_at:
            return _("none (%(note)s)") % {"note": photos_deleted_note(attempt)}
        if attempt.photo_id_key:
            return _("stored, sealed with the reviewer's RSA key")
        return _("none")

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context: dict[str, Any] = {"can_review_photos": request.user.has_perm(REVIEW_PERMISSION)}
        return super().change_view(
            request, object_id, form_url, {**context, **(extra_context or {})}
        )

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context: Any = None
    ) -> HttpResponse:
        # Reverting would write an old status past the state machine.
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    # -- actions ----------------------------------------------------------------------
    def _decide_each(
        self, request: HttpRequest, queryset: QuerySet[Attempt], decision: str, reason: str = ""
    ) -> None:
        def decide(attempt: Attempt) -> None:
            attempt._history_user = request.user  # type: ignore[attr-defined]
            api.review_attempt(attempt, decision, request.user, reason)

        self._apply_each(request, queryset, decide, decision)

    def _apply_each(
        self,
        request: HttpRequest,
        queryset: QuerySet[Attempt],
        apply: Callable[[Attempt], None],
        decision: str,
    ) -> None:
        """Run ``apply`` row by row; one message per outcome, naming every refused row."""
        changed, unchanged = 0, []
        for attempt in queryset.select_related("user").order_by("pk"):
            before = _state(attempt)
            try:
                apply(attempt)
            except VerificationException as exc:
                message = _("Attempt %(attempt)s: not %(past)s: %(error)s") % {
                    "attempt": _describe(attempt),
                    "past": _PAST[decision],
                    "error": exc,
                }
                self.message_user(request, message, messages.ERROR)
                continue
            if decision != "resubmit" and _state(attempt) == before:
                unchanged.append(str(attempt.pk))
            else:
                changed += 1
        if changed:
            self.message_user(
                request,
                ngettext("%(count)d attempt %(past)s.", "%(count)d attempts %(past)s.", changed)
                % {"count": changed, "past": _PAST[decision]},
                messages.SUCCESS,
            )
        if unchanged:
            self.message_user(
                request,
                _("Left unchanged (%(why)s): %(ids)s.")
                % {"why": _UNCHANGED[decision], "ids": ", ".join(unchanged)},
                messages.INFO,
            )

    @admin.action(description=gettext_lazy("Approve selected attempts"), permissions=["change"])
    def approve_attempts(self, request: HttpRequest, queryset: QuerySet[Attempt]) -> None:
        self._decide_each(request, queryset, "approve")

    @admin.action(
        description=gettext_lazy("Deny selected attempts (asks for a reason)"),
        permissions=["change"],
    )
    def deny_attempts(
        self, request: HttpRequest, queryset: QuerySet[Attempt]
    ) -> TemplateResponse | None:
        form = DenyReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            self._decide_each(request, queryset, "deny", form.cleaned_data["reason"])
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Deny verification attempts"),
            "opts": self.opts,
            "form": form,
            "attempts": queryset.select_related("user").order_by("pk"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "verify_student/admin/deny_reason.html", context)

    @admin.action(
        description=gettext_lazy("Mark selected attempts for retry"), permissions=["change"]
    )
    def retry_attempts(self, request: HttpRequest, queryset: QuerySet[Attempt]) -> None:
        self._decide_each(request, queryset, "retry")

    @admin.action(
        description=gettext_lazy("Resubmit selected attempts to the reviewer"),
        permissions=["change"],
    )
    def resubmit_attempts(self, request: HttpRequest, queryset: QuerySet[Attempt]) -> None:
        self._apply_each(request, queryset, api.resubmit, "resubmit")

    # -- data export --------------------------------------------------------------------
    def has_export_verification_data_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(EXPORT_PERMISSION))

    @admin.action(
        description=gettext_lazy(
            "Export the selected attempts' learners' verification data (JSON)"
        ),
        permissions=["export_verification_data"],
    )
    def export_verification_data(
        self, request: HttpRequest, queryset: QuerySet[Attempt]
    ) -> HttpResponse:
        """A JSON download for a data-access request: one export per learner selected."""
        users = {attempt.user.pk: attempt.user for attempt in queryset.select_related("user")}
        exports = [api.export_user_verification_data(users[pk]) for pk in sorted(users)]
        log.info(
            "User %s exported the verification data of users %s.", request.user.pk, sorted(users)
        )
        name = (
            f"verification-data-{exports[0]['username']}"
            if len(exports) == 1
            else "verification-data"
        )
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response = HttpResponse(
            json.dumps({"learners": exports}, indent=2, sort_keys=True),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.json"'
        add_never_cache_headers(response)
        return response


_UNCHANGED = {
    "approve": gettext_lazy("already approved"),
    "deny": gettext_lazy("already denied for this reason"),
    "retry": gettext_lazy("already decided, or already marked for retry"),
}


@admin.register(PhotoReviewAccess)
class PhotoReviewAccessAdmin(admin.ModelAdmin):
    """The audit log of decrypted photos shown to staff: read only."""

    list_display = ("viewed_at", "user", "image", "attempt")
    list_filter = ("image", "viewed_at")
    list_select_related = ("user", "attempt")
    search_fields = ("user__username", "attempt__receipt_id", "attempt__user__username")
    raw_id_fields = ("attempt", "user")
    date_hierarchy = "viewed_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(VerificationDeadline)
class VerificationDeadlineAdmin(SimpleHistoryAdmin):
    list_display = ("course_key", "deadline", "deadline_is_explicit")
    list_filter = ("deadline_is_explicit", "deadline")
    search_fields = ("course_key",)
    history_list_display = ("deadline", "deadline_is_explicit")


@admin.register(VerificationCheckpoint)
class VerificationCheckpointAdmin(admin.ModelAdmin):
    list_display = ("id", "course_id", "checkpoint_location")
    search_fields = ("course_id", "checkpoint_location")
    raw_id_fields = ("photo_verification",)


@admin.register(VerificationStatus)
class VerificationStatusAdmin(admin.ModelAdmin):
    """An append-only log: rows are read, not edited or deleted."""

    list_display = ("timestamp", "user", "status", "checkpoint")
    list_filter = ("status", "timestamp")
    list_select_related = ("user", "checkpoint")
    search_fields = ("checkpoint__checkpoint_location", "user__username", "user__email")
    raw_id_fields = ("user", "checkpoint")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None:
            return ("status", "checkpoint", "user", "response", "error")
        return ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SkippedReverification)
class SkippedReverificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "course_id", "checkpoint")
    list_select_related = ("user", "checkpoint")
    search_fields = ("user__username", "course_id", "checkpoint__checkpoint_location")
    raw_id_fields = ("user", "checkpoint")
    readonly_fields = ("user", "course_id", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


admin.site.register(InCourseReverificationConfiguration, ConfigurationModelAdmin)
admin.site.register(IcrvStatusEmailsConfiguration, ConfigurationModelAdmin)
