"""Staff pages for LTI consumers, identities and graded assignments.

A consumer's secret is edited on its own change page only: it is never a
list column, a search field or a filter, so it does not appear on listings.
"""

from __future__ import annotations

from django.contrib import admin

from lti_provider.models import GradedAssignment, LtiConsumer, LtiUser, OutcomeService


@admin.register(LtiConsumer)
class LtiConsumerAdmin(admin.ModelAdmin):
    list_display = ("consumer_name", "consumer_key", "instance_guid", "require_user_account")
    list_filter = ("require_user_account",)
    search_fields = ("consumer_name", "consumer_key", "instance_guid")
    ordering = ("consumer_name",)


@admin.register(LtiUser)
class LtiUserAdmin(admin.ModelAdmin):
    list_display = ("lti_user_id", "lti_consumer", "edx_user")
    list_select_related = ("lti_consumer", "edx_user")
    raw_id_fields = ("edx_user", "lti_consumer")
    search_fields = (
        "lti_user_id",
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
        "version_number",
    )

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        # Made by launches only: a hand-made row would send scores nobody asked for.
        return False
