"""Staff pages: consumers listed and searched without their secret; raw ids elsewhere."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from lti_provider.models import GradedAssignment, LtiConsumer, LtiUser, OutcomeService
from tests.factories import (
    GradedAssignmentFactory,
    LtiConsumerFactory,
    LtiUserFactory,
    UserFactory,
)


@pytest.fixture
def staff_client(client, db):
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    return client


def test_every_model_is_registered():
    for model in (LtiConsumer, LtiUser, OutcomeService, GradedAssignment):
        assert admin.site.is_registered(model)


def test_the_consumer_list_shows_name_key_guid_and_flag_but_never_the_secret(staff_client):
    consumer = LtiConsumerFactory(
        consumer_name="Canvas", consumer_secret="s3cr3t-value", require_user_account=True
    )
    response = staff_client.get(reverse("admin:lti_provider_lticonsumer_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Canvas" in body
    assert consumer.consumer_key in body
    assert consumer.instance_guid in body
    assert "s3cr3t-value" not in body


@pytest.mark.parametrize("field", ["consumer_name", "consumer_key", "instance_guid"])
def test_consumers_are_searchable_by_name_key_and_guid(staff_client, field):
    wanted = LtiConsumerFactory()
    other = LtiConsumerFactory()
    response = staff_client.get(
        reverse("admin:lti_provider_lticonsumer_changelist"), {"q": getattr(wanted, field)}
    )
    body = response.content.decode()
    assert wanted.consumer_name in body
    assert other.consumer_name not in body


def test_consumers_are_not_searchable_by_secret(staff_client):
    consumer = LtiConsumerFactory(consumer_secret="findable-secret")
    model_admin = admin.site._registry[LtiConsumer]
    assert "consumer_secret" not in model_admin.search_fields
    assert "consumer_secret" not in model_admin.list_display
    response = staff_client.get(
        reverse("admin:lti_provider_lticonsumer_changelist"), {"q": "findable-secret"}
    )
    assert consumer.consumer_name not in response.content.decode()


def test_the_consumer_change_page_opens(staff_client):
    consumer = LtiConsumerFactory()
    url = reverse("admin:lti_provider_lticonsumer_change", args=[consumer.pk])
    assert staff_client.get(url).status_code == 200


def test_lti_users_use_raw_ids_and_are_searchable(staff_client):
    lti_user = LtiUserFactory(edx_user__username="grace")
    LtiUserFactory()
    model_admin = admin.site._registry[LtiUser]
    assert set(model_admin.raw_id_fields) == {"edx_user", "lti_consumer"}
    response = staff_client.get(reverse("admin:lti_provider_ltiuser_changelist"), {"q": "grace"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert lti_user.lti_user_id in response.content.decode()
    change = reverse("admin:lti_provider_ltiuser_change", args=[lti_user.pk])
    assert staff_client.get(change).status_code == 200


def test_graded_assignments_are_read_only_and_not_added_by_hand(staff_client):
    assignment = GradedAssignmentFactory()
    listing = staff_client.get(reverse("admin:lti_provider_gradedassignment_changelist"))
    assert listing.status_code == 200
    assert staff_client.get(reverse("admin:lti_provider_gradedassignment_add")).status_code == 403
    change = staff_client.get(
        reverse("admin:lti_provider_gradedassignment_change", args=[assignment.pk])
    )
    assert change.status_code == 200
    assert "lis_result_sourcedid" not in change.context["adminform"].form.fields


def test_outcome_services_are_read_only_once_recorded(staff_client):
    service = GradedAssignmentFactory().outcome_service
    response = staff_client.get(
        reverse("admin:lti_provider_outcomeservice_change", args=[service.pk])
    )
    assert response.status_code == 200
    assert "lis_outcome_service_url" not in response.context["adminform"].form.fields
    listing = staff_client.get(
        reverse("admin:lti_provider_outcomeservice_changelist"), {"q": "consumer.example.com"}
    )
    assert listing.context["cl"].result_count == 1


def test_staff_without_permission_cannot_see_consumers(client, db):
    client.force_login(UserFactory(is_staff=True))
    response = client.get(reverse("admin:lti_provider_lticonsumer_changelist"))
    assert response.status_code == 403
