"""LTI 1.1 as real LMSs lay it out: Canvas, Moodle, Blackboard and Open edX, end to end.

Launches are signed by independent consumer libraries (``lms_launches``:
the ``lti`` package, oauthlib, Open edX's ``LtiConsumer1p1``); grades go to
a real outcome service on 127.0.0.1 that checks the body hash and the
signature itself, and with Open edX's own verifier. Each LMS is launched
and graded; then the layouts that broke: long outcome URLs, several keys of
one LMS, one key of several LMSs, a shared outcome URL, a new sourcedid at
each launch, repeated form names.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from lti_provider.models import GradedAssignment, LtiConsumer, LtiUser, OutcomeService
from lti_provider.signals import score_changed
from tests.factories import LtiConsumerFactory
from tests.lti_provider.conftest import COURSE_ID, FORM, USAGE_ID, base_params, launch_path
from tests.lti_provider.lms_launches import (
    ALL,
    MOODLE,
    OPENEDX,
    OPENEDX_BLOCK,
    OPENEDX_COURSE,
    Learner,
    sign_with_oauthlib,
)
from tests.lti_provider.outcome_server import outcome_server_fixture  # noqa: F401  (fixture)

LAUNCH_URL = "https://testserver" + launch_path()
pytestmark = pytest.mark.django_db


def make_consumer(outcome_server, key: str, **fields) -> LtiConsumer:
    """A consumer the outcome server knows the secret of (it checks our signatures)."""
    consumer = LtiConsumerFactory(
        consumer_key=key, consumer_secret=f"secret-of-{key}", instance_guid=None, **fields
    )
    outcome_server.secrets[key] = consumer.consumer_secret
    return consumer


def launch(body: str, client: Client | None = None, path: str | None = None):
    return (client or Client()).post(path or launch_path(), body, content_type=FORM, secure=True)


def score(user, earned: float, possible: float, capture, usage_id: str = USAGE_ID, **kwargs):
    """The host's score change, committed: the passback goes out."""
    with capture(execute=True):
        score_changed.send(
            sender=None,
            user_id=user.pk,
            course_id=kwargs.get("course_id", COURSE_ID),
            usage_id=usage_id,
            weighted_earned=earned,
            weighted_possible=possible,
        )


def assert_verified(received, consumer: LtiConsumer) -> None:
    """The outcome service's own checks, and Open edX's, accepted the passback."""
    assert received.oauth["oauth_consumer_key"] == consumer.consumer_key
    assert received.body_hash_ok
    assert received.signature_ok
    assert received.openedx_verified


# --- each LMS, launched and graded ----------------------------------------------------


@pytest.mark.parametrize("lms", ALL, ids=[lms.name for lms in ALL])
def test_each_lms_launches_and_gets_its_grade_back(
    lms, outcome_server, django_capture_on_commit_callbacks
):
    consumer = make_consumer(outcome_server, f"{lms.name.lower().replace(' ', '')}-key")
    outcome_url = lms.outcome_url(outcome_server.port)
    body = lms.launch(LAUNCH_URL, consumer.consumer_key, consumer.consumer_secret, outcome_url)
    sent = dict(parse_qsl(body))

    client = Client()
    response = launch(body, client)
    assert response.status_code == 200

    lti_user = LtiUser.objects.get()
    assert (lti_user.lti_consumer, lti_user.lti_user_id) == (consumer, lms.learner.user_id)
    assert lti_user.instance_guid == lms.instance_guid
    assert client.session[SESSION_KEY] == str(lti_user.edx_user.pk)
    assignment = GradedAssignment.objects.get()
    assert assignment.lis_result_sourcedid == sent["lis_result_sourcedid"]
    assert assignment.outcome_service.lis_outcome_service_url == outcome_url
    assert assignment.resource_link_id == lms.resource_link_id

    score(lti_user.edx_user, 3, 4, django_capture_on_commit_callbacks)
    [received] = outcome_server.received
    assert received.path == lms.outcome_path
    assert (received.sourcedid, received.score) == (sent["lis_result_sourcedid"], "0.75")
    assert_verified(received, consumer)


def test_passbacks_name_the_tool_in_their_user_agent(
    outcome_server, django_capture_on_commit_callbacks
):
    """Canvas refuses outcome requests without a descriptive User-Agent."""
    consumer = make_consumer(outcome_server, "canvas-key")
    lms = ALL[0]
    body = lms.launch(
        LAUNCH_URL,
        consumer.consumer_key,
        consumer.consumer_secret,
        lms.outcome_url(outcome_server.port),
    )
    assert launch(body).status_code == 200
    score(LtiUser.objects.get().edx_user, 1, 1, django_capture_on_commit_callbacks)
    [received] = outcome_server.received
    from lti_provider.http import USER_AGENT

    assert received.user_agent == USER_AGENT
    assert received.user_agent.startswith("django-verify-student-lti/")
    assert "python-requests" not in received.user_agent


# --- 1. long outcome URLs and sourcedids ----------------------------------------------


def test_open_edx_outcome_urls_longer_than_255_characters_get_their_grades(
    outcome_server, django_capture_on_commit_callbacks
):
    """Open edX's .../xblock/<usage>/handler_noauth/outcome_service_handler of a real course."""
    consumer = make_consumer(outcome_server, "openedx-key")
    outcome_url = OPENEDX.outcome_url(outcome_server.port)
    assert len(outcome_url) > 255
    path = launch_path(
        OPENEDX_COURSE,
        "block-v1:UniversityX+CS101x_Introduction_to_Computer_Science"
        "+2026_T1+type@problem+block@p1",
    )
    body = OPENEDX.launch(
        "https://testserver" + path, consumer.consumer_key, consumer.consumer_secret, outcome_url
    )
    assert launch(body, path=path).status_code == 200
    assert OutcomeService.objects.get().lis_outcome_service_url == outcome_url

    score(
        LtiUser.objects.get().edx_user,
        1,
        2,
        django_capture_on_commit_callbacks,
        course_id=OPENEDX_COURSE,
        usage_id=path.rsplit("/", 1)[-1],
    )
    [received] = outcome_server.received
    assert received.path == OPENEDX.outcome_path
    assert received.sourcedid.endswith(f":{OPENEDX_BLOCK}:{OPENEDX.learner.user_id}")
    assert_verified(received, consumer)


def test_an_outcome_url_too_long_to_keep_is_refused_with_a_clear_message(outcome_server):
    consumer = make_consumer(outcome_server, "openedx-key")
    too_long = OPENEDX.outcome_url(outcome_server.port) + "/" + "x" * 1024
    body = OPENEDX.launch(LAUNCH_URL, consumer.consumer_key, consumer.consumer_secret, too_long)
    response = launch(body)
    assert response.status_code == 400
    assert "lis_outcome_service_url" in response.content.decode()
    assert "1023" in response.content.decode()
    assert not (LtiUser.objects.exists() or OutcomeService.objects.exists())


# --- 2. several keys of one LMS ---------------------------------------------------------


def test_two_keys_of_one_moodle_both_launch(outcome_server):
    """Moodle sends its host as the guid for every tool: neither key owns it."""
    first = make_consumer(outcome_server, "moodle-tool-1")
    second = make_consumer(outcome_server, "moodle-tool-2")
    outcome_url = MOODLE.outcome_url(outcome_server.port)
    for consumer in (first, second):
        body = MOODLE.launch(
            LAUNCH_URL, consumer.consumer_key, consumer.consumer_secret, outcome_url
        )
        assert launch(body).status_code == 200
    identities = LtiUser.objects.order_by("pk")
    assert [i.lti_consumer for i in identities] == [first, second]
    assert {i.instance_guid for i in identities} == {MOODLE.instance_guid}
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.instance_guid == second.instance_guid == MOODLE.instance_guid


def test_a_guid_another_consumer_recorded_gives_its_sender_nothing_of_the_owner(outcome_server):
    """No squatting: another key sending the guid launches as itself, the owner unchanged."""
    owner = make_consumer(outcome_server, "moodle-owner")
    assert (
        launch(MOODLE.launch(LAUNCH_URL, owner.consumer_key, owner.consumer_secret)).status_code
        == 200
    )
    owner_identity = LtiUser.objects.get()

    squatter = make_consumer(outcome_server, "squatter")
    body = MOODLE.launch(LAUNCH_URL, squatter.consumer_key, squatter.consumer_secret)
    client = Client()
    assert launch(body, client).status_code == 200

    owner.refresh_from_db()
    assert owner.instance_guid == MOODLE.instance_guid
    squatter_identity = LtiUser.objects.get(lti_consumer=squatter)
    assert squatter_identity.edx_user != owner_identity.edx_user
    assert client.session[SESSION_KEY] == str(squatter_identity.edx_user.pk)
    # ... and the owner's learners still launch into their own account.
    again = Client()
    assert (
        launch(
            MOODLE.launch(LAUNCH_URL, owner.consumer_key, owner.consumer_secret), again
        ).status_code
        == 200
    )
    assert again.session[SESSION_KEY] == str(owner_identity.edx_user.pk)


# --- 3. one key, several LMS installations ----------------------------------------------


def test_one_key_used_by_two_installations_keeps_their_learners_apart(outcome_server):
    """user_id 3 of moodle-a and user_id 3 of moodle-b are two people, never one account."""
    shared = make_consumer(outcome_server, "shared-key")
    sessions = {}
    for guid in ("moodle-a.example.edu", "moodle-b.example.edu"):
        client = Client()
        body = MOODLE.launch(
            LAUNCH_URL,
            shared.consumer_key,
            shared.consumer_secret,
            tool_consumer_instance_guid=guid,
        )
        assert launch(body, client).status_code == 200
        sessions[guid] = client.session[SESSION_KEY]
    a, b = (LtiUser.objects.get(instance_guid=guid) for guid in sessions)
    assert a.lti_user_id == b.lti_user_id == MOODLE.learner.user_id
    assert a.edx_user != b.edx_user
    assert sessions == {a.instance_guid: str(a.edx_user.pk), b.instance_guid: str(b.edx_user.pk)}


def test_grades_of_two_installations_sharing_a_key_go_to_each(
    outcome_server, django_capture_on_commit_callbacks
):
    shared = make_consumer(outcome_server, "shared-key")
    for guid, path in (
        ("moodle-a", "/a/mod/lti/service.php"),
        ("moodle-b", "/b/mod/lti/service.php"),
    ):
        body = MOODLE.launch(
            LAUNCH_URL,
            shared.consumer_key,
            shared.consumer_secret,
            f"http://127.0.0.1:{outcome_server.port}{path}",
            tool_consumer_instance_guid=guid,
        )
        assert launch(body).status_code == 200
    a, b = LtiUser.objects.order_by("pk")
    score(a.edx_user, 1, 1, django_capture_on_commit_callbacks)
    assert [r.path for r in outcome_server.received] == ["/a/mod/lti/service.php"]
    score(b.edx_user, 0, 1, django_capture_on_commit_callbacks)
    assert [(r.path, r.score) for r in outcome_server.received] == [
        ("/a/mod/lti/service.php", "1.0"),
        ("/b/mod/lti/service.php", "0.0"),
    ]


# --- 4. a shared outcome service URL ------------------------------------------------------


def test_two_keys_sharing_moodles_outcome_url_each_get_their_grades(
    outcome_server, django_capture_on_commit_callbacks
):
    """Moodle's single /mod/lti/service.php serves every key of the site."""
    first = make_consumer(outcome_server, "moodle-tool-1")
    second = make_consumer(outcome_server, "moodle-tool-2")
    outcome_url = MOODLE.outcome_url(outcome_server.port)
    learners = {first: Learner("3", "ada@example.edu"), second: Learner("4", "bob@example.edu")}
    for consumer, learner in learners.items():
        body = MOODLE.launch(
            LAUNCH_URL,
            consumer.consumer_key,
            consumer.consumer_secret,
            outcome_url,
            learner=learner,
        )
        assert launch(body).status_code == 200
    services = OutcomeService.objects.order_by("pk")
    assert [(s.lti_consumer, s.lis_outcome_service_url) for s in services] == [
        (first, outcome_url),
        (second, outcome_url),
    ]
    for consumer in learners:
        score(
            LtiUser.objects.get(lti_consumer=consumer).edx_user,
            1,
            2,
            django_capture_on_commit_callbacks,
        )
    assert len(outcome_server.received) == 2
    for received, consumer in zip(outcome_server.received, learners, strict=True):
        assert_verified(received, consumer)


# --- 5. a new sourcedid at each launch ---------------------------------------------------


def test_one_score_is_one_replace_result_with_the_latest_sourcedid(
    outcome_server, django_capture_on_commit_callbacks
):
    """Moodle puts a fresh launch id in each sourcedid; only the latest is used."""
    consumer = make_consumer(outcome_server, "moodle-key")
    outcome_url = MOODLE.outcome_url(outcome_server.port)
    sourcedids = []
    for _ in range(3):
        body = MOODLE.launch(
            LAUNCH_URL, consumer.consumer_key, consumer.consumer_secret, outcome_url
        )
        sourcedids.append(dict(parse_qsl(body))["lis_result_sourcedid"])
        assert launch(body).status_code == 200
    assert len(set(sourcedids)) == 3

    score(LtiUser.objects.get().edx_user, 2, 2, django_capture_on_commit_callbacks)
    [received] = outcome_server.received
    assert (received.sourcedid, received.score) == (sourcedids[-1], "1.0")
    assert_verified(received, consumer)


def test_another_resource_link_of_the_same_block_is_graded_too(
    outcome_server, django_capture_on_commit_callbacks
):
    consumer = make_consumer(outcome_server, "moodle-key")
    outcome_url = MOODLE.outcome_url(outcome_server.port)
    for link in ("7", "8"):
        body = MOODLE.launch(
            LAUNCH_URL,
            consumer.consumer_key,
            consumer.consumer_secret,
            outcome_url,
            resource_link_id=link,
        )
        assert launch(body).status_code == 200
    score(LtiUser.objects.get().edx_user, 1, 1, django_capture_on_commit_callbacks)
    assert len(outcome_server.received) == 2


# --- 6. repeated form names ---------------------------------------------------------------


def repeated_name_launch(consumer: LtiConsumer, values=("b", "a")) -> str:
    """oauthlib signs custom_tag=b&custom_tag=a (RFC 5849 3.4.1.3.2 sorts them by value)."""
    client_params = [*base_params().items(), *(("custom_tag", value) for value in values)]
    from oauthlib.oauth1 import SIGNATURE_TYPE_BODY
    from oauthlib.oauth1 import Client as OAuthClient

    oauth = OAuthClient(
        consumer.consumer_key,
        client_secret=consumer.consumer_secret,
        signature_type=SIGNATURE_TYPE_BODY,
    )
    _uri, _headers, body = oauth.sign(
        LAUNCH_URL,
        http_method="POST",
        body=urlencode(client_params),
        headers={"Content-Type": FORM},
    )
    return body


def test_a_launch_with_a_repeated_name_verifies(outcome_server):
    consumer = make_consumer(outcome_server, "key")
    response = launch(repeated_name_launch(consumer))
    assert response.status_code == 200


def test_a_repeated_name_with_a_value_dropped_does_not_verify(outcome_server):
    consumer = make_consumer(outcome_server, "key")
    body = repeated_name_launch(consumer)
    tampered = urlencode([(k, v) for k, v in parse_qsl(body) if (k, v) != ("custom_tag", "a")])
    assert launch(tampered).status_code == 403
    assert not LtiUser.objects.exists()


def test_a_form_with_raw_utf8_still_verifies(outcome_server):
    """A body oauthlib cannot read as is (unescaped UTF-8) is read from the parsed form."""
    consumer = make_consumer(outcome_server, "key")
    params = {**base_params(), "lis_person_name_full": "Zoë Ångström"}
    body = sign_with_oauthlib(LAUNCH_URL, consumer.consumer_key, consumer.consumer_secret, params)
    raw = "&".join(
        f"{k}={v}" if k == "lis_person_name_full" else urlencode({k: v}) for k, v in parse_qsl(body)
    )
    assert "Zoë" in raw
    response = Client().post(launch_path(), raw.encode(), content_type=FORM, secure=True)
    assert response.status_code == 200
