"""Staff pages for LTI 1.3 registrations: the private key is generated, never shown."""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.urls import reverse

from lti_provider.models import Lti13GradedAssignment, Lti13Registration

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Canvas",
    "issuer": "https://canvas.example.com",
    "client_id": "10000000000001",
    "auth_login_url": "https://canvas.example.com/api/lti/authorize_redirect",
    "auth_token_url": "https://canvas.example.com/login/oauth2/token",
    "auth_audience": "",
    "key_set_url": "https://canvas.example.com/api/lti/security/jwks",
    "deployment_ids": '["1:abc"]',
    "require_user_account": "on",
}


def model_fields(**overrides):
    return {**FORM, "deployment_ids": ["1"], "require_user_account": True, **overrides}


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_models_are_registered():
    assert admin.site.is_registered(Lti13Registration)
    assert admin.site.is_registered(Lti13GradedAssignment)


def test_adding_a_registration_generates_the_key_pair_and_its_consumer(staff_client):
    add = staff_client.get(reverse("admin:lti_provider_lti13registration_add"))
    assert add.status_code == 200
    assert "private_key" not in add.content.decode()
    response = staff_client.post(reverse("admin:lti_provider_lti13registration_add"), FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    registration = Lti13Registration.objects.get()
    assert "BEGIN PRIVATE KEY" in registration.private_key_pem
    assert registration.key_id and registration.deployment_ids == ["1:abc"]
    assert registration.lti_consumer.require_user_account
    assert registration.lti_consumer.consumer_name == "LTI 1.3: Canvas"


def test_the_change_page_shows_the_public_jwk_and_urls_never_the_private_key(staff_client):
    registration = Lti13Registration.objects.create(**model_fields())
    url = reverse("admin:lti_provider_lti13registration_change", args=[registration.pk])
    body = staff_client.get(url).content.decode()
    private_body = registration.private_key_pem.splitlines()[1]
    assert private_body not in body
    assert "PRIVATE" not in body
    assert registration.key_id in body
    assert json.dumps(registration.public_jwk()["n"]).strip('"') in body
    assert "/lti_provider/lti13/jwks.json" in body
    assert "/lti_provider/lti13/login" in body
    listing = staff_client.get(reverse("admin:lti_provider_lti13registration_changelist"))
    assert private_body not in listing.content.decode()


def test_saving_again_keeps_the_key_and_syncs_the_consumer(staff_client):
    registration = Lti13Registration.objects.create(**model_fields())
    key, kid = registration.private_key_pem, registration.key_id
    url = reverse("admin:lti_provider_lti13registration_change", args=[registration.pk])
    response = staff_client.post(url, {**FORM, "name": "Canvas prod", "require_user_account": ""})
    assert response.status_code == 302
    registration.refresh_from_db()
    assert (registration.private_key_pem, registration.key_id) == (key, kid)
    assert registration.lti_consumer.consumer_name == "LTI 1.3: Canvas prod"
    assert not registration.lti_consumer.require_user_account


@pytest.mark.parametrize("ids", ['"1"', "[1]", '[""]', "{}"])
def test_deployment_ids_must_be_a_list_of_strings(staff_client, ids):
    response = staff_client.post(
        reverse("admin:lti_provider_lti13registration_add"), {**FORM, "deployment_ids": ids}
    )
    assert response.status_code == 200
    assert "A list of non-empty strings" in response.content.decode()
    assert not Lti13Registration.objects.exists()


def test_a_registrations_consumer_is_read_only_and_hides_its_secret(staff_client):
    registration = Lti13Registration.objects.create(**model_fields())
    consumer = registration.lti_consumer
    url = reverse("admin:lti_provider_lticonsumer_change", args=[consumer.pk])
    body = staff_client.get(url).content.decode()
    assert consumer.consumer_secret not in body
    assert 'name="require_user_account"' not in body


def test_two_registrations_get_distinct_keys():
    first = Lti13Registration.objects.create(**model_fields())
    second = Lti13Registration.objects.create(**model_fields(name="Canvas 2", client_id="2"))
    assert first.key_id != second.key_id
    assert first.lti_consumer_id != second.lti_consumer_id
