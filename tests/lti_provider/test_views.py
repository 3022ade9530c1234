"""The launch and resume views over HTTP: every documented status code."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client, override_settings
from django.urls import reverse
from freezegun import freeze_time
from oauthlib.oauth1 import SIGNATURE_PLAINTEXT

from lti_provider.launch import REQUIRED_PARAMETERS
from lti_provider.models import GradedAssignment, LtiConsumer, LtiUser, OutcomeService
from tests.factories import LtiConsumerFactory, LtiUserFactory, UserFactory
from tests.lti_provider.conftest import COURSE_ID, FORM, USAGE_ID, launch_path

VECTOR_TIME = "2023-11-14 22:13:20"  # the vector's oauth_timestamp, 1700000000


def db_state():
    return (
        list(LtiConsumer.objects.values_list("pk", "instance_guid")),
        LtiUser.objects.count(),
        OutcomeService.objects.count(),
        GradedAssignment.objects.count(),
    )


# --- success ----------------------------------------------------------------------


def test_the_known_answer_vector_launches(client, db, launch_vector):
    LtiConsumerFactory(
        consumer_key=launch_vector["consumer_key"],
        consumer_secret=launch_vector["consumer_secret"],
    )
    url = urlsplit(launch_vector["url"])
    with freeze_time(VECTOR_TIME):
        response = client.post(
            url.path, launch_vector["signed_params"], HTTP_HOST=url.hostname, secure=True
        )
    assert response.status_code == 200
    assert LtiUser.objects.get(lti_user_id="u1")


def test_a_launch_shows_the_content_naming_course_block_and_user(client, post_launch):
    response = post_launch()
    assert response.status_code == 200
    body = response.content.decode()
    lti_user = LtiUser.objects.get()
    assert COURSE_ID in body
    assert USAGE_ID in body
    assert lti_user.edx_user.username in body
    assert client.session[SESSION_KEY] == str(lti_user.edx_user.pk)


def test_the_content_may_be_framed_by_the_consumer(post_launch):
    response = post_launch()
    assert "X-Frame-Options" not in response.headers


def test_the_launch_needs_no_csrf_token(consumer, signed_launch):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(launch_path(), signed_launch(), content_type=FORM, secure=True)
    assert response.status_code == 200


def proxied_post(client, body):
    """What the app server sees behind a TLS-terminating proxy: plain http, Host kept."""
    return client.post(
        launch_path(),
        body,
        content_type=FORM,
        secure=False,
        HTTP_HOST="lms.example.com",
        HTTP_X_FORWARDED_PROTO="https",
    )


def test_behind_a_tls_proxy_the_signed_https_url_is_used(consumer, client, signed_launch):
    body = signed_launch(host="lms.example.com")  # signed for https://lms.example.com/...
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        response = proxied_post(client, body)
    assert response.status_code == 200


def test_without_the_proxy_setting_the_http_url_does_not_match(consumer, client, signed_launch):
    response = proxied_post(client, signed_launch(host="lms.example.com"))
    assert response.status_code == 403


def test_a_plain_http_launch_signed_for_http_validates(consumer, client, signed_launch):
    response = client.post(launch_path(), signed_launch(scheme="http"), content_type=FORM)
    assert response.status_code == 200


def test_query_parameters_in_the_signed_url_are_honoured(consumer, client, signed_launch):
    path = launch_path() + "?lang=fr"
    response = client.post(path, signed_launch(path), content_type=FORM, secure=True)
    assert response.status_code == 200


# --- 405, 403 feature flag ------------------------------------------------------------


def test_get_is_not_allowed(client, db):
    assert client.get(launch_path()).status_code == 405


@override_settings(FEATURES={"ENABLE_LTI_PROVIDER": False})
def test_the_feature_flag_off_refuses_launches(post_launch):
    response = post_launch()
    assert response.status_code == 403
    assert not LtiUser.objects.exists()


# --- 400 -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED_PARAMETERS)
def test_a_missing_signed_parameter_is_400_naming_it(client, consumer, signed_launch, name):
    from urllib.parse import parse_qsl, urlencode

    body = urlencode([(k, v) for k, v in parse_qsl(signed_launch()) if k != name])
    response = client.post(launch_path(), body, content_type=FORM, secure=True)
    assert response.status_code == 400
    assert name in response.content.decode()


@pytest.mark.parametrize("name", ["user_id", "roles", "context_id", "resource_link_id"])
def test_a_missing_parameter_is_400_even_when_the_rest_is_signed(post_launch, name):
    response = post_launch(**{name: None})
    assert response.status_code == 400
    assert name in response.content.decode()


def test_an_empty_request_names_every_missing_parameter(client, db):
    response = client.post(launch_path(), {}, secure=True)
    assert response.status_code == 400
    body = response.content.decode()
    assert all(name in body for name in REQUIRED_PARAMETERS)


@pytest.mark.parametrize(
    "override",
    [
        {"lti_message_type": "ContentItemSelectionRequest"},
        {"lti_version": "LTI-2p0"},
    ],
)
def test_another_message_type_or_version_is_400(post_launch, override):
    assert post_launch(**override).status_code == 400


# --- 403 -------------------------------------------------------------------------------


def test_an_unknown_consumer_is_403(post_launch):
    response = post_launch(key="nobody", secret="whatever")
    assert response.status_code == 403


def test_a_bad_signature_is_403(post_launch):
    assert post_launch(secret="wrong-secret").status_code == 403


def test_a_replayed_launch_is_403_the_second_time(client, consumer, signed_launch):
    body = signed_launch()
    first = client.post(launch_path(), body, content_type=FORM, secure=True)
    second = Client().post(launch_path(), body, content_type=FORM, secure=True)
    assert (first.status_code, second.status_code) == (200, 403)


@pytest.mark.parametrize("offset", [10 * 365 * 24 * 3600, -600])
def test_a_timestamp_ten_years_ahead_or_ten_minutes_old_is_403(post_launch, offset):
    timestamp = str(int(time.time()) + offset)
    response = post_launch(client_kwargs={"timestamp": timestamp})
    assert response.status_code == 403


def test_plaintext_signatures_are_403(post_launch):
    response = post_launch(client_kwargs={"signature_method": SIGNATURE_PLAINTEXT})
    assert response.status_code == 403


def test_rsa_sha1_signatures_are_403(client, consumer):
    # Signed for another URL, but the method is refused before the signature is read.
    from urllib.parse import urlencode

    from tests.lti_provider.test_signature_validator import rsa_sha1_signed

    body = urlencode(rsa_sha1_signed(consumer))
    response = client.post(launch_path(), body, content_type=FORM, secure=True)
    assert response.status_code == 403


def test_an_inactive_linked_user_is_403(post_launch, consumer):
    LtiUserFactory(lti_consumer=consumer, lti_user_id="lti-learner-1", edx_user__is_active=False)
    response = post_launch()
    assert response.status_code == 403
    assert "disabled" in response.content.decode()


def test_a_guid_another_consumer_recorded_changes_nothing_for_it(post_launch, consumer):
    """The signing key picks the consumer: a guid names an installation, never a key."""
    theirs = LtiConsumerFactory(instance_guid="someone-elses-guid")
    response = post_launch(tool_consumer_instance_guid="someone-elses-guid")
    assert response.status_code == 200
    lti_user = LtiUser.objects.get()
    assert (lti_user.lti_consumer, lti_user.instance_guid) == (consumer, "someone-elses-guid")
    theirs.refresh_from_db()
    assert theirs.instance_guid == "someone-elses-guid"
    assert not LtiUser.objects.filter(lti_consumer=theirs).exists()


# --- 404 -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("course_id", "usage_id"),
    [("not-a-course", USAGE_ID), (COURSE_ID, "not-a-block")],
)
def test_keys_that_do_not_parse_are_404(post_launch, course_id, usage_id):
    response = post_launch(launch_path(course_id, usage_id))
    assert response.status_code == 404
    assert not LtiUser.objects.exists()


# --- errors change nothing and leak nothing ------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": "wrong"},
        {"user_id": None},
        {"lti_version": "LTI-2p0"},
        {"path": launch_path("bad", USAGE_ID)},
        {"client_kwargs": {"signature_method": SIGNATURE_PLAINTEXT}},
    ],
)
def test_an_error_changes_nothing_in_the_database(post_launch, consumer, kwargs):
    consumer.instance_guid = None
    consumer.save()
    before = db_state()
    response = post_launch(
        tool_consumer_instance_guid="new-guid",
        lis_result_sourcedid="sourcedid",
        lis_outcome_service_url="https://consumer.example.com/outcomes",
        **kwargs,
    )
    assert response.status_code in (400, 403, 404)
    assert db_state() == before


@pytest.mark.parametrize("identity_guid", ["new-guid", None], ids=["identity", "legacy-identity"])
def test_an_inactive_user_error_rolls_back_the_guid(post_launch, consumer, identity_guid):
    """Neither the consumer's first guid nor a legacy identity's is recorded by a refusal."""
    consumer.instance_guid = None
    consumer.save()
    LtiUserFactory(
        lti_consumer=consumer,
        lti_user_id="lti-learner-1",
        instance_guid=identity_guid,
        edx_user__is_active=False,
    )
    before = db_state(), list(LtiUser.objects.values_list("instance_guid", flat=True))
    assert post_launch(tool_consumer_instance_guid="new-guid").status_code == 403
    assert (db_state(), list(LtiUser.objects.values_list("instance_guid", flat=True))) == before


def test_errors_log_no_secret_or_signature(client, consumer, signed_launch, caplog):
    from urllib.parse import parse_qsl

    body = signed_launch(secret="wrong-secret")
    signature = dict(parse_qsl(body))["oauth_signature"]
    caplog.clear()
    caplog.set_level("DEBUG")
    response = client.post(launch_path(), body, content_type=FORM, secure=True)
    assert response.status_code == 403
    assert signature not in caplog.text
    assert consumer.consumer_secret not in caplog.text
    assert "Traceback" not in response.content.decode()


# --- login and resume ----------------------------------------------------------------


@pytest.fixture
def linking(consumer):
    consumer.require_user_account = True
    consumer.save()
    return consumer


def resume_path_from(response) -> str:
    location = urlsplit(response["Location"])
    assert location.path == "/accounts/login/"
    (next_url,) = parse_qs(location.query)["next"]
    return next_url


def test_login_then_resume_links_and_shows_the_content(client, post_launch, linking):
    learner = UserFactory(username="ada", email="ada@example.com")
    response = post_launch(lis_person_contact_email_primary="ADA@example.com")
    assert response.status_code == 302
    next_url = resume_path_from(response)
    assert not LtiUser.objects.exists()

    login = client.post("/accounts/login/", {"username": "ada", "password": "password"})
    assert login.status_code == 302

    resumed = client.get(next_url)
    assert resumed.status_code == 200
    assert "ada" in resumed.content.decode()
    assert LtiUser.objects.get(lti_consumer=linking, lti_user_id="lti-learner-1").edx_user == (
        learner
    )
    assert "X-Frame-Options" not in resumed.headers


def test_the_resume_token_works_once(client, post_launch, linking):
    UserFactory(username="ada", email="ada@example.com")
    next_url = resume_path_from(post_launch(lis_person_contact_email_primary="ada@example.com"))
    client.login(username="ada", password="password")
    assert client.get(next_url).status_code == 200
    again = client.get(next_url)
    assert again.status_code == 403
    assert "already used" in again.content.decode()


def test_an_unknown_resume_token_is_403(client, user):
    client.force_login(user)
    response = client.get(reverse("lti_provider_resume", args=["made-up-token"]))
    assert response.status_code == 403


def test_resume_sends_an_anonymous_visitor_to_log_in_without_spending_the_token(
    client, post_launch, linking
):
    UserFactory(username="ada", email="ada@example.com")
    next_url = resume_path_from(post_launch(lis_person_contact_email_primary="ada@example.com"))
    anonymous = client.get(next_url)
    assert anonymous.status_code == 302
    assert resume_path_from(anonymous) == next_url
    client.login(username="ada", password="password")
    assert client.get(next_url).status_code == 200


def test_the_resume_expires(client, post_launch, linking):
    UserFactory(username="ada", email="ada@example.com")
    with freeze_time() as frozen:
        response = post_launch(lis_person_contact_email_primary="ada@example.com")
        next_url = resume_path_from(response)
        client.login(username="ada", password="password")
        frozen.tick(901)
        assert client.get(next_url).status_code == 403
    assert not LtiUser.objects.exists()


def test_resume_is_get_only(client, user):
    client.force_login(user)
    assert client.post(reverse("lti_provider_resume", args=["t"])).status_code == 405


def test_a_mismatch_after_login_is_a_clear_403_without_the_other_email(
    client, post_launch, linking
):
    UserFactory(username="grace", email="grace@example.com")
    next_url = resume_path_from(post_launch(lis_person_contact_email_primary="ada@example.com"))
    client.login(username="grace", password="password")
    response = client.get(next_url)
    assert response.status_code == 403
    body = response.content.decode()
    assert "does not match" in body
    assert "ada@example.com" not in body
    assert "grace@example.com" not in body
    assert not LtiUser.objects.exists()


def test_a_logged_in_learner_with_the_matching_email_is_linked_at_once(
    client, post_launch, linking
):
    learner = UserFactory(email="ada@example.com")
    client.force_login(learner)
    response = post_launch(lis_person_contact_email_primary="ada@example.com")
    assert response.status_code == 200
    assert LtiUser.objects.get().edx_user == learner


def test_a_logged_in_learner_with_another_email_is_asked_to_log_in(client, post_launch, linking):
    client.force_login(UserFactory(email="grace@example.com"))
    response = post_launch(lis_person_contact_email_primary="ada@example.com")
    assert response.status_code == 302
    assert not LtiUser.objects.exists()


def test_a_linking_launch_without_email_is_403(post_launch, linking):
    assert post_launch().status_code == 403


def test_next_only_ever_points_to_our_resume_path(client, linking, signed_launch):
    path = launch_path() + "?next=https://evil.example.com/"
    body = signed_launch(
        path, lis_person_contact_email_primary="ada@example.com", next="https://evil.example.com/"
    )
    response = client.post(path, body, content_type=FORM, secure=True)
    assert response.status_code == 302
    next_url = resume_path_from(response)
    assert urlsplit(next_url).netloc == ""
    assert next_url.startswith("/lti_provider/resume/")
    token = next_url.rsplit("/", 1)[1]
    assert next_url == reverse("lti_provider_resume", args=[token])
    assert len(token) >= 40


@override_settings(FEATURES={"ENABLE_LTI_PROVIDER": False})
def test_resume_with_the_feature_off_is_403(client, user):
    client.force_login(user)
    assert client.get(reverse("lti_provider_resume", args=["t"])).status_code == 403


def test_a_resume_whose_consumer_was_deleted_is_403(client, post_launch, linking):
    UserFactory(username="ada", email="ada@example.com")
    next_url = resume_path_from(post_launch(lis_person_contact_email_primary="ada@example.com"))
    linking.delete()
    client.login(username="ada", password="password")
    assert client.get(next_url).status_code == 403


def test_a_launch_asserting_a_superusers_email_never_logs_in_that_account(client, post_launch):
    """A consumer without require_user_account cannot take over an account by email."""
    root = UserFactory(username="root", email="root@example.com", is_superuser=True)
    response = post_launch(lis_person_contact_email_primary="root@example.com")
    assert response.status_code == 200
    assert client.session[SESSION_KEY] != str(root.pk)
    assert '<dd class="user">root</dd>' not in response.content.decode()
    assert not LtiUser.objects.filter(edx_user=root).exists()
