"""LTI 1.3 launches from an independent platform (PyJWT, its own keys, a real HTTP server).

Every refusal is a 4xx page and writes nothing: no user, no identity, no
graded assignment; and a refused launch does not spend its login's state.
"""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.urls import reverse
from freezegun import freeze_time

from lti_provider.models import Lti13GradedAssignment, LtiUser
from tests.factories import LtiUserFactory, UserFactory
from tests.lti_provider.lti13_platform import (  # noqa: F401  (fixtures)
    CLAIM,
    COURSE_ID,
    USAGE_ID,
    PlatformKey,
    login_and_launch,
    platform_fixture,
    post_launch,
    registration_fixture,
    start_login,
    target_link_uri,
)

User = get_user_model()
pytestmark = pytest.mark.django_db


def nothing_written(users_before: int) -> bool:
    return (
        User.objects.count() == users_before
        and not LtiUser.objects.exists()
        and not Lti13GradedAssignment.objects.exists()
    )


def refused(response, status: int, text: str) -> bool:
    body = response.content.decode()
    return response.status_code == status and text in body and "cannot be shown" in body


# --- OIDC login initiation ------------------------------------------------------------


def test_login_redirects_to_the_platform_with_state_and_nonce(client, platform, registration):
    auth = start_login(client, platform, lti_message_hint="message-hint")
    assert auth["client_id"] == platform.client_id
    assert auth["redirect_uri"] == "https://testserver" + reverse("lti_provider_lti13_launch")
    assert (auth["response_type"], auth["response_mode"], auth["scope"], auth["prompt"]) == (
        "id_token",
        "form_post",
        "openid",
        "none",
    )
    assert auth["login_hint"] == "opaque-hint"
    assert auth["lti_message_hint"] == "message-hint"
    assert auth["state"] and auth["nonce"]
    # State lives server-side: no cookie is needed in the platform's iframe.
    assert not [name for name in client.cookies if name.startswith("lti1p3")]


def test_login_accepts_a_post(client, platform, registration):
    response = client.post(
        reverse("lti_provider_lti13_login"),
        {
            "iss": platform.issuer,
            "login_hint": "hint",
            "target_link_uri": target_link_uri(),
            "client_id": platform.client_id,
        },
        secure=True,
    )
    assert response.status_code == 302
    assert response["Location"].startswith(f"{platform.url}/auth?")


def test_login_without_a_client_id_finds_the_only_registration_of_the_issuer(
    client, platform, registration
):
    assert start_login(client, platform, client_id=None)["client_id"] == platform.client_id


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"iss": None}, 400, "iss"),
        ({"login_hint": None}, 400, "login_hint"),
        ({"target_link_uri": None}, 400, "target_link_uri"),
        ({"iss": "https://unknown.example.com"}, 403, "not registered"),
        ({"client_id": "another-client"}, 403, "not registered"),
        ({"lti_deployment_id": "deployment-9"}, 403, "deployment"),
    ],
)
def test_login_refusals(client, platform, registration, params, status, text):
    query = {
        "iss": platform.issuer,
        "login_hint": "hint",
        "target_link_uri": target_link_uri(),
        "client_id": platform.client_id,
        "lti_deployment_id": "deployment-1",
        **params,
    }
    response = client.get(
        reverse("lti_provider_lti13_login"),
        {k: v for k, v in query.items() if v is not None},
        secure=True,
    )
    assert refused(response, status, text)


def test_login_and_launch_are_refused_when_lti_is_disabled(
    client, platform, registration, settings
):
    settings.FEATURES = {**settings.FEATURES, "ENABLE_LTI_PROVIDER": False}
    response = client.get(
        reverse("lti_provider_lti13_login"), {"iss": platform.issuer}, secure=True
    )
    assert refused(response, 403, "not enabled")
    assert refused(post_launch(client, "a.b.c", "state"), 403, "not enabled")


# --- valid launches -------------------------------------------------------------------


def test_a_valid_launch_creates_and_logs_in_a_user(client, platform, registration):
    response = login_and_launch(client, platform, sub="learner-42")
    assert response.status_code == 200
    body = response.content.decode()
    assert COURSE_ID in body and USAGE_ID in body
    lti_user = LtiUser.objects.get()
    assert (lti_user.lti_consumer_id, lti_user.lti_user_id) == (
        registration.lti_consumer_id,
        "learner-42",
    )
    assert client.session[SESSION_KEY] == str(lti_user.edx_user_id)
    assert not lti_user.edx_user.has_usable_password()
    assert not Lti13GradedAssignment.objects.exists()  # no AGS claim


def test_a_known_identity_logs_in_its_linked_user(client, platform, registration):
    linked = LtiUserFactory(lti_consumer=registration.lti_consumer, lti_user_id="learner-7")
    assert login_and_launch(client, platform, sub="learner-7").status_code == 200
    assert login_and_launch(client, platform, sub="learner-7").status_code == 200
    assert LtiUser.objects.count() == 1
    assert client.session[SESSION_KEY] == str(linked.edx_user_id)


def test_the_same_sub_from_two_registrations_is_two_identities(client, platform, registration):
    from lti_provider.models import Lti13Registration

    other = Lti13Registration.objects.create(
        name="Second client",
        issuer=platform.issuer,
        client_id="tool-client-2",
        auth_login_url=f"{platform.url}/auth",
        auth_token_url=f"{platform.url}/token",
        key_set_url=f"{platform.url}/jwks",
        deployment_ids=["deployment-1"],
    )
    assert login_and_launch(client, platform, sub="same").status_code == 200
    platform.client_id = other.client_id
    assert login_and_launch(client, platform, sub="same").status_code == 200
    consumers = set(LtiUser.objects.values_list("lti_consumer_id", flat=True))
    assert consumers == {registration.lti_consumer_id, other.lti_consumer_id}


def test_course_and_block_may_come_from_a_custom_claim(client, platform, registration):
    launch_url = "https://testserver" + reverse("lti_provider_lti13_launch")
    response = login_and_launch(
        client,
        platform,
        login={"target_link_uri": launch_url},
        **{
            CLAIM + "target_link_uri": launch_url,
            CLAIM + "custom": {
                "course_id": "course-v1:Other+C+R",
                "usage_id": "block-v1:Other+C+R+type@html+block@h1",
            },
        },
    )
    assert response.status_code == 200
    assert "block-v1:Other+C+R+type@html+block@h1" in response.content.decode()


def test_the_platform_may_post_to_the_target_url_itself(client, platform, registration):
    auth = start_login(client, platform)
    token = platform.id_token(nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()})
    path = reverse("lti_provider_lti13_target", args=[COURSE_ID, USAGE_ID])
    assert post_launch(client, token, auth["state"], path=path).status_code == 200


def test_the_launch_is_shown_in_the_platforms_iframe(client, platform, registration):
    response = login_and_launch(client, platform)
    assert "X-Frame-Options" not in response


# --- refusals -------------------------------------------------------------------------


def test_a_replayed_launch_is_refused(client, platform, registration):
    auth = start_login(client, platform)
    token = platform.id_token(nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()})
    assert post_launch(client, token, auth["state"]).status_code == 200
    users = User.objects.count()
    assert refused(post_launch(client, token, auth["state"]), 403, "already used")
    assert User.objects.count() == users and LtiUser.objects.count() == 1


def test_a_replayed_nonce_with_a_fresh_state_is_refused(client, platform, registration):
    first = start_login(client, platform)
    token = platform.id_token(
        nonce=first["nonce"], **{CLAIM + "target_link_uri": target_link_uri()}
    )
    assert post_launch(client, token, first["state"]).status_code == 200
    second = start_login(client, platform)
    replay = platform.id_token(
        nonce=first["nonce"], **{CLAIM + "target_link_uri": target_link_uri()}
    )
    assert refused(post_launch(client, replay, second["state"]), 403, "already used")
    assert LtiUser.objects.count() == 1


def test_a_nonce_never_issued_is_refused(client, platform, registration):
    users = User.objects.count()
    response = login_and_launch(client, platform, nonce="made-up-nonce")
    assert refused(response, 403, "already used")
    assert nothing_written(users)


def test_a_state_never_issued_is_refused(client, platform, registration):
    users = User.objects.count()
    auth = start_login(client, platform)
    token = platform.id_token(nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()})
    assert refused(post_launch(client, token, "state-forged"), 403, "did not start here")
    assert nothing_written(users)


def test_a_state_for_another_target_is_refused(client, platform, registration):
    auth = start_login(client, platform)
    other_target = target_link_uri(COURSE_ID, "block-v1:Org+Course+Run+type@problem+block@p2")
    token = platform.id_token(nonce=auth["nonce"], **{CLAIM + "target_link_uri": other_target})
    users = User.objects.count()
    assert refused(post_launch(client, token, auth["state"]), 403, "did not start here")
    assert nothing_written(users)


def test_an_expired_state_is_refused(client, platform, registration, settings):
    with freeze_time() as frozen:
        auth = start_login(client, platform)
        frozen.tick(dt.timedelta(seconds=601))
        token = platform.id_token(
            nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()}
        )
        assert refused(post_launch(client, token, auth["state"]), 403, "expired")


@pytest.mark.parametrize(
    ("claims", "status", "text"),
    [
        ({"aud": "another-client"}, 403, "not registered"),
        ({"iss": "https://impostor.example.com"}, 403, "not registered"),
        ({CLAIM + "deployment_id": "deployment-9"}, 403, "deployment"),
        ({"exp": None}, 403, "token is not valid"),
        ({"iat": None}, 403, "token is not valid"),
        ({CLAIM + "version": "1.2.0"}, 400, "Unsupported"),
        ({CLAIM + "roles": None}, 400, "Unsupported"),
        ({CLAIM + "message_type": "LtiDeepLinkingRequest"}, 400, "Unsupported"),
        ({CLAIM + "resource_link": None}, 400, "Unsupported"),
        ({"sub": None}, 403, "token is not valid"),
    ],
)
def test_launch_refusals_write_nothing_and_keep_the_state(
    client, platform, registration, claims, status, text
):
    users = User.objects.count()
    auth = start_login(client, platform)
    bad = platform.id_token(
        nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri(), **claims}
    )
    assert refused(post_launch(client, bad, auth["state"]), status, text)
    assert nothing_written(users)
    # Refused before the single-use checks: the login can still complete.
    good = platform.id_token(nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()})
    assert post_launch(client, good, auth["state"]).status_code == 200


def test_an_audience_list_must_hold_our_client_id(client, platform, registration):
    # Several audiences need our client id as azp too (OIDC Core 3.1.3.7; more in
    # test_lti13_token_shapes.py).
    response = login_and_launch(
        client, platform, aud=[platform.client_id, "someone-else"], azp=platform.client_id
    )
    assert response.status_code == 200
    users = User.objects.count()
    response = login_and_launch(client, platform, aud=[platform.client_id], sub="x")
    assert response.status_code == 200
    assert User.objects.count() == users + 1


def test_an_expired_token_is_refused(client, platform, registration):
    start = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    with freeze_time(start) as frozen:
        auth = start_login(client, platform)
        token = platform.id_token(
            nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()}
        )
        frozen.tick(dt.timedelta(seconds=300 + 5 + 1))  # exp, then the leeway, passed
        users = User.objects.count()
        assert refused(post_launch(client, token, auth["state"]), 403, "token is not valid")
        assert nothing_written(users)


def test_a_token_within_the_clock_leeway_is_accepted(client, platform, registration):
    start = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    with freeze_time(start) as frozen:
        auth = start_login(client, platform)
        token = platform.id_token(
            nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()}
        )
        frozen.tick(dt.timedelta(seconds=303))
        assert post_launch(client, token, auth["state"]).status_code == 200


def test_a_token_signed_by_another_key_with_the_platforms_kid_is_refused(
    client, platform, registration
):
    impostor = PlatformKey.new()
    impostor.kid = platform.key.kid
    users = User.objects.count()
    auth = start_login(client, platform)
    token = platform.id_token(
        key=impostor, nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()}
    )
    assert refused(post_launch(client, token, auth["state"]), 403, "token is not valid")
    assert nothing_written(users)


def test_a_tampered_token_is_refused(client, platform, registration):
    auth = start_login(client, platform)
    token = platform.id_token(nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()})
    forged = platform.id_token(
        nonce=auth["nonce"], sub="admin", **{CLAIM + "target_link_uri": target_link_uri()}
    )
    header, _body, signature = token.split(".")
    spliced = ".".join([header, forged.split(".")[1], signature])
    users = User.objects.count()
    assert refused(post_launch(client, spliced, auth["state"]), 403, "token is not valid")
    assert nothing_written(users)


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_tokens_not_signed_with_rsa_are_refused(client, platform, registration, alg):
    auth = start_login(client, platform)
    claims = jwt.decode(
        platform.id_token(nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()}),
        options={"verify_signature": False},
    )
    key = "x" * 32 if alg == "HS256" else None
    token = jwt.encode(claims, key, algorithm=alg, headers={"kid": platform.key.kid})
    assert refused(post_launch(client, token, auth["state"]), 403, "token is not valid")


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "e30.e30.sig"])
def test_malformed_tokens_are_refused(client, platform, registration, token):
    auth = start_login(client, platform)
    response = post_launch(client, token, auth["state"])
    assert response.status_code in (400, 403)
    assert "cannot be shown" in response.content.decode()


@pytest.mark.parametrize("missing", ["id_token", "state"])
def test_a_launch_without_id_token_or_state_is_400(client, platform, registration, missing):
    data = {"id_token": "a.b.c", "state": "s", missing: None}
    response = post_launch(client, data["id_token"], data["state"])
    assert refused(response, 400, missing)


def test_a_launch_must_be_posted(client, registration):
    assert client.get(reverse("lti_provider_lti13_launch"), secure=True).status_code == 405


def test_unparsable_course_keys_are_404_and_keep_the_state(client, platform, registration):
    auth = start_login(client, platform, target_link_uri=target_link_uri("bad", "keys"))
    token = platform.id_token(
        nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri("bad", "keys")}
    )
    users = User.objects.count()
    assert refused(post_launch(client, token, auth["state"]), 404, "does not exist")
    assert nothing_written(users)


def test_a_target_outside_the_tool_is_404(client, platform, registration):
    target = "https://testserver/somewhere/else"
    response = login_and_launch(
        client, platform, login={"target_link_uri": target}, **{CLAIM + "target_link_uri": target}
    )
    assert refused(response, 404, "does not exist")


def test_the_platform_key_set_unreachable_is_refused(client, platform, registration):
    registration.key_set_url = f"{platform.url}/missing-jwks"
    registration.save()
    users = User.objects.count()
    assert refused(login_and_launch(client, platform), 403, "keys could not be read")
    assert nothing_written(users)


def test_a_key_set_on_a_private_host_is_refused_unless_allowed(
    client, platform, registration, settings
):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "ALLOW_PRIVATE_OUTCOME_HOSTS": False}
    assert refused(login_and_launch(client, platform), 403, "keys could not be read")
    assert platform.jwks_requests == 0


def test_an_inactive_linked_user_is_refused(client, platform, registration):
    LtiUserFactory(
        lti_consumer=registration.lti_consumer, lti_user_id="gone", edx_user__is_active=False
    )
    assert refused(login_and_launch(client, platform, sub="gone"), 403, "disabled")


# --- key rotation ---------------------------------------------------------------------


def test_the_key_set_is_fetched_once_then_again_only_for_a_new_kid(client, platform, registration):
    with freeze_time() as frozen:
        assert login_and_launch(client, platform).status_code == 200
        assert login_and_launch(client, platform).status_code == 200
        assert platform.jwks_requests == 1

        platform.rotate()
        frozen.tick(dt.timedelta(seconds=61))
        assert login_and_launch(client, platform).status_code == 200
        assert platform.jwks_requests == 2
        assert login_and_launch(client, platform).status_code == 200
        assert platform.jwks_requests == 2


def test_unknown_kids_do_not_make_the_tool_hammer_the_platform(client, platform, registration):
    with freeze_time() as frozen:
        assert login_and_launch(client, platform).status_code == 200
        assert platform.jwks_requests == 1
        stranger = PlatformKey.new()
        for _ in range(3):
            auth = start_login(client, platform)
            token = platform.id_token(
                key=stranger,
                nonce=auth["nonce"],
                **{CLAIM + "target_link_uri": target_link_uri()},
            )
            assert refused(post_launch(client, token, auth["state"]), 403, "token is not valid")
        assert platform.jwks_requests == 1  # refetch throttled right after a fetch
        frozen.tick(dt.timedelta(seconds=61))
        assert refused(post_launch(client, token, auth["state"]), 403, "token is not valid")
        assert platform.jwks_requests == 2


def test_a_key_rotated_right_after_a_fetch_waits_for_the_refresh_interval(
    client, platform, registration
):
    with freeze_time() as frozen:
        assert login_and_launch(client, platform).status_code == 200
        platform.rotate()
        assert refused(login_and_launch(client, platform), 403, "token is not valid")
        frozen.tick(dt.timedelta(seconds=61))
        assert login_and_launch(client, platform).status_code == 200
        assert platform.jwks_requests == 2


# --- email auto-link: require_user_account --------------------------------------------


@pytest.fixture
def linking_registration(registration):
    registration.require_user_account = True
    registration.save()
    return registration


def test_require_user_account_is_the_consumers(linking_registration):
    linking_registration.lti_consumer.refresh_from_db()
    assert linking_registration.lti_consumer.require_user_account


def test_a_new_learner_logs_in_then_the_launch_resumes_and_links(
    client, platform, linking_registration
):
    account = UserFactory(email="Learner@Example.com")
    response = login_and_launch(
        client, platform, sub="l-1", email=" learner@example.com ", **platform.ags_claim()
    )
    assert response.status_code == 302
    login_url, _, next_url = response["Location"].partition("?next=")
    assert login_url == "/accounts/login/"
    assert not LtiUser.objects.exists()

    client.force_login(account)
    from urllib.parse import unquote

    resumed = client.get(unquote(next_url), secure=True)
    assert resumed.status_code == 200
    lti_user = LtiUser.objects.get()
    assert (lti_user.edx_user, lti_user.lti_user_id) == (account, "l-1")
    assert lti_user.lti_consumer_id == linking_registration.lti_consumer_id
    # The AGS line item recorded on resume, as on a direct launch.
    assignment = Lti13GradedAssignment.objects.get()
    assert (assignment.user, assignment.lti_user_id) == (account, "l-1")
    # The resume token works once.
    assert client.get(unquote(next_url), secure=True).status_code == 403


def test_a_logged_in_learner_with_the_same_email_is_linked_at_once(
    client, platform, linking_registration
):
    account = UserFactory(email="me@example.com")
    client.force_login(account)
    response = login_and_launch(client, platform, sub="l-2", email="ME@example.com")
    assert response.status_code == 200
    assert LtiUser.objects.get().edx_user == account


def test_another_email_sends_to_login_and_stays_refused_after(
    client, platform, linking_registration
):
    client.force_login(UserFactory(email="someone@example.com"))
    response = login_and_launch(client, platform, sub="l-3", email="other@example.com")
    assert response.status_code == 302
    from urllib.parse import unquote

    next_url = unquote(response["Location"].partition("?next=")[2])
    assert refused(client.get(next_url, secure=True), 403, "does not match")
    assert not LtiUser.objects.exists()


def test_without_an_email_claim_the_launch_is_refused(client, platform, linking_registration):
    users = User.objects.count()
    assert refused(login_and_launch(client, platform, sub="l-4"), 403, "email address")
    assert nothing_written(users)


# --- the tool's keys and configuration ------------------------------------------------


def test_the_jwks_lists_each_registrations_public_key_only(client, registration):
    keys = client.get(reverse("lti_provider_lti13_jwks")).json()["keys"]
    assert [key["kid"] for key in keys] == [registration.key_id]
    [key] = keys
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


def test_the_jwks_verifies_what_the_tool_signs(client, registration):
    keys = client.get(reverse("lti_provider_lti13_jwks")).json()["keys"]
    public = jwt.algorithms.RSAAlgorithm.from_jwk(keys[0])
    token = jwt.encode({"x": 1}, registration.private_key_pem, algorithm="RS256")
    assert jwt.decode(token, public, algorithms=["RS256"]) == {"x": 1}  # type: ignore[arg-type]


def test_the_configuration_json_names_the_tools_urls(client, registration):
    config = client.get(reverse("lti_provider_lti13_config"), secure=True).json()
    base = "https://testserver/lti_provider/lti13/"
    assert config["oidc_initiation_url"] == base + "login"
    assert config["redirect_uris"] == [base + "launch"]
    assert config["jwks_uri"] == base + "jwks.json"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in config["scopes"]
    assert "PRIVATE" not in str(config)


def test_a_registrations_consumer_cannot_sign_lti11_launches(client, registration):
    from tests.lti_provider.conftest import base_params, launch_path, sign

    consumer = registration.lti_consumer
    path = launch_path()
    body = sign(
        f"https://testserver{path}",
        base_params(),
        consumer.consumer_key,
        consumer.consumer_secret,
    )
    response = client.post(
        path, body, content_type="application/x-www-form-urlencoded", secure=True
    )
    assert refused(response, 403, "Unknown LTI consumer")
