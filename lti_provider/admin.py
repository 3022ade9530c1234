"""Staff pages for LTI consumers, identities and graded assignments.

A consumer's secret is edited on its own change page only: it is never a
list column, a search field or a filter, so it does not appear on listings.
An LTI 1.3 registration's private key is generated on creation and never
shown: not a field, not a column, not read-only text; its public JWK is.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.db import models
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from lti_provider.models import (
    GradedAssignment,
    Lti13GradedAssignment,
    Lti13Registration,
    LtiConsumer,
    LtiUser,
    OutcomeService,
)


@admin.register(LtiConsumer)
class LtiConsumerAdmin(admin.ModelAdmin):
    list_display = ("consumer_name", "consumer_key", "instance_guid", "require_user_account")
    list_filter = ("require_user_account",)
    search_fields = ("consumer_name", "consumer_key", "instance_guid")
    ordering = ("consumer_name",)

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # An LTI 1.3 registration's consumer follows the registration; edit it there.
        if obj is not None and Lti13Registration.objects.filter(lti_consumer=obj).exists():
            return ("consumer_name", "consumer_key", "instance_guid", "require_user_account")
        return ()

    def get_exclude(self, request, obj=None):  # type: ignore[no-untyped-def]
        # Its key and secret sign nothing: 1.1 launches never use a 1.3 consumer.
        if obj is not None and Lti13Registration.objects.filter(lti_consumer=obj).exists():
            return ("consumer_secret",)
        return ()


@admin.register(LtiUser)
class LtiUserAdmin(admin.ModelAdmin):
    list_display = ("lti_user_id", "lti_consumer", "instance_guid", "edx_user")
    list_select_related = ("lti_consumer", "edx_user")
    raw_id_fields = ("edx_user", "lti_consumer")
    search_fields = (
        "lti_user_id",
        "instance_guid",
        "edx_user__username",
        "edx_user__email",
        "lti_consumer__consumer_name",
        "lti_consumer__consumer_key",
    )


@admin.register(OutcomeService)
class OutcomeServiceAdmin(admin.ModelAdmin):
    list_display = ("lis_outcome_service_url", "lti_consumer")
    list_select_related = ("lti_consumer",)
    raw_id_fields = ("lti_consumer",)
    search_fields = ("lis_outcome_service_url", "lti_consumer__consumer_name")

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # Rows come from launches; an existing one is for reading.
        return ("lis_outcome_service_url", "lti_consumer") if obj else ()


@admin.register(GradedAssignment)
class GradedAssignmentAdmin(admin.ModelAdmin):
    list_display = ("usage_key", "course_key", "user", "outcome_service", "version_number")
    list_select_related = ("user", "outcome_service")
    raw_id_fields = ("user", "outcome_service")
    search_fields = ("lis_result_sourcedid", "user__username", "user__email", "course_key")
    readonly_fields = (
        "user",
        "course_key",
        "usage_key",
        "outcome_service",
        "lis_result_sourcedid",
        "lti_user",
        "resource_link_id",
        "version_number",
    )

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        # Made by launches only: a hand-made row would send scores nobody asked for.
        return False


@admin.register(Lti13Registration)
class Lti13RegistrationAdmin(admin.ModelAdmin):
    list_display = ("name", "issuer", "client_id", "require_user_account", "key_id")
    list_filter = ("require_user_account",)
    search_fields = ("name", "issuer", "client_id")
    ordering = ("name",)
    fields = (
        "name",
        "issuer",
        "client_id",
        "auth_login_url",
        "auth_token_url",
        "auth_audience",
        "key_set_url",
        "deployment_ids",
        "require_user_account",
        "tool_urls",
        "key_id",
        "public_jwk",
    )
    readonly_fields = ("tool_urls", "key_id", "public_jwk")
    # Platform URLs typed without a scheme are https (Django 6's default, asked for now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description=_("Public key (JWK)"))
    def public_jwk(self, obj: Lti13Registration) -> str:
        if not obj.pk:
            return str(_("Generated when the registration is saved."))
        return format_html("<pre>{}</pre>", json.dumps(obj.public_jwk(), indent=2))

    @admin.display(description=_("Give these to the platform"))
    def tool_urls(self, obj: Lti13Registration) -> str:
        rows = [
            (_("OIDC login initiation URL"), reverse("lti_provider_lti13_login")),
            (_("Launch (redirect) URL"), reverse("lti_provider_lti13_launch")),
            (_("Public key set (JWKS) URL"), reverse("lti_provider_lti13_jwks")),
            (_("Configuration JSON"), reverse("lti_provider_lti13_config")),
        ]
        return format_html("<dl>{}</dl>", format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows))


@admin.register(Lti13GradedAssignment)
class Lti13GradedAssignmentAdmin(admin.ModelAdmin):
    list_display = ("usage_key", "course_key", "user", "registration", "version_number")
    list_select_related = ("user", "registration")
    search_fields = ("lti_user_id", "user__username", "user__email", "course_key")
    readonly_fields = (
        "user",
        "course_key",
        "usage_key",
        "registration",
        "lti_user_id",
        "lineitem_url",
        "scopes",
        "version_number",
    )

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        # Made by launches only, as 1.1 graded assignments.
        return False
