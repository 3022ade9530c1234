"""Code written against the original lti_provider keeps working: its names and signatures.

``users.authenticate_lti_user(request, lti_user_id, lti_consumer)``,
``users.create_lti_user(lti_user_id, lti_consumer, email)``, the functions of
``outcomes`` (``store_outcome_parameters``, ``generate_replace_result_xml``,
``sign_and_send_replace_result``, ``check_replace_result_response``,
``get_assignments_for_problem``, ``send_score_update``),
``signature_validator.SignatureValidator(consumer).verify(request)``,
``settings.LTI_CUSTOM_PARAMS``; called as the original's callers call them.
"""

from __future__ import annotations

import types
import uuid
from urllib.parse import parse_qsl, urlencode

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import RequestFactory, override_settings
from lxml import etree
from oauthlib.oauth1 import SIGNATURE_TYPE_BODY, Client
from opaque_keys.edx.keys import CourseKey, UsageKey

from lti_provider import outcomes, users
from lti_provider.exceptions import InvalidLaunchParameter, MissingEmail
from lti_provider.models import GradedAssignment, LtiUser, OutcomeService
from lti_provider.signals import launch_success
from lti_provider.signature_validator import SignatureValidator
from tests.factories import GradedAssignmentFactory, LtiConsumerFactory, LtiUserFactory, UserFactory
from tests.lti_provider.conftest import COURSE_ID, FORM, USAGE_ID, base_params, launch_path
from tests.lti_provider.outcome_server import (  # noqa: F401  (fixtures)
    NS,
    REPLY,
    assignment_fixture,
    outcome_server_fixture,
    outcome_service_fixture,
)

User = get_user_model()
COURSE = CourseKey.from_string("course-v1:some_org+some_course+some_run")
PROBLEM = UsageKey.from_string("block-v1:some_org+some_course+some_run+type@problem+block@b1")
URL = "https://testserver" + launch_path()


def launch_request(data: dict[str, str], user=None):
    request = RequestFactory().post("/lti_provider/launch", data)
    SessionMiddleware(lambda r: None).process_request(request)
    request.user = user or AnonymousUser()
    return request


# --- users ------------------------------------------------------------------------------


def test_authenticate_lti_user_reads_the_email_from_the_launch(db):
    consumer = LtiConsumerFactory(require_user_account=True)
    learner = UserFactory(email="ada@example.com")
    request = launch_request({"lis_person_contact_email_primary": "ada@example.com"}, learner)
    users.authenticate_lti_user(request, "lti-ada", consumer)
    assert LtiUser.objects.get(lti_user_id="lti-ada").edx_user == learner


def test_authenticate_lti_user_without_an_email_in_the_launch_links_nothing(db):
    consumer = LtiConsumerFactory(require_user_account=True)
    with pytest.raises(MissingEmail):
        users.authenticate_lti_user(launch_request({}, UserFactory()), "lti-ada", consumer)
    assert not LtiUser.objects.exists()


def test_authenticate_lti_user_reads_the_instance_guid_from_the_launch(db):
    consumer = LtiConsumerFactory()
    request = launch_request({"tool_consumer_instance_guid": "moodle.example.edu"})
    user = users.authenticate_lti_user(request, "3", consumer)
    assert LtiUser.objects.get().instance_guid == "moodle.example.edu"
    assert request.user == user


def test_create_lti_user_as_the_original_calls_it(db):
    lti_user = users.create_lti_user("lti_user_id", LtiConsumerFactory())
    assert lti_user.edx_user.email == f"{lti_user.edx_user.username}@lti.example.com"
    assert not lti_user.edx_user.has_usable_password()


def test_create_lti_user_gives_a_new_account_the_email(db):
    lti_user = users.create_lti_user("lti_user_id", LtiConsumerFactory(), "ada@example.com")
    assert lti_user.edx_user.email == "ada@example.com"
    assert not lti_user.edx_user.has_usable_password()


def test_create_lti_user_never_links_the_account_that_has_the_email(db):
    """An asserted email never designates an account: a consumer could take any."""
    holder = UserFactory(email="Ada@Example.com", is_superuser=True)
    lti_user = users.create_lti_user("lti_user_id", LtiConsumerFactory(), "ada@example.com")
    assert lti_user.edx_user != holder
    assert lti_user.edx_user.email.endswith("@lti.example.com")
    assert User.objects.filter(email__iexact="ada@example.com").count() == 1


# --- outcomes: recording -------------------------------------------------------------------


@pytest.fixture
def consumer(db):
    return LtiConsumerFactory(consumer_key="consumer_key", consumer_secret="secret")


def original_params(**overrides):
    """What the original's launch view handed to store_outcome_parameters."""
    params = {
        "lis_result_sourcedid": "sourcedid",
        "lis_outcome_service_url": "https://example.com/service_url",
        "oauth_consumer_key": "consumer_key",
        "tool_consumer_instance_guid": "tool_instance_guid",
        "usage_key": PROBLEM,
        "course_key": COURSE,
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def test_store_outcome_parameters_records_service_and_assignment(consumer):
    user = UserFactory()
    assignment = outcomes.store_outcome_parameters(original_params(), user, consumer)
    service = OutcomeService.objects.get(lti_consumer=consumer)
    assert assignment == GradedAssignment.objects.get(lis_result_sourcedid="sourcedid")
    assert (assignment.user, assignment.outcome_service) == (user, service)
    assert (assignment.course_key, assignment.usage_key) == (COURSE, PROBLEM)


def test_store_outcome_parameters_twice_records_nothing_new(consumer, django_assert_num_queries):
    user = UserFactory()
    outcomes.store_outcome_parameters(original_params(), user, consumer)
    with django_assert_num_queries(2):
        outcomes.store_outcome_parameters(original_params(), user, consumer)
    assert (OutcomeService.objects.count(), GradedAssignment.objects.count()) == (1, 1)


@pytest.mark.parametrize("missing", ["lis_result_sourcedid", "lis_outcome_service_url"])
def test_store_outcome_parameters_without_outcome_values_writes_nothing(
    consumer, missing, django_assert_num_queries
):
    with django_assert_num_queries(0):
        assert (
            outcomes.store_outcome_parameters(
                original_params(**{missing: None}), UserFactory.build(), consumer
            )
            is None
        )


def test_store_outcome_parameters_with_the_launch_identity_keeps_the_latest_sourcedid(consumer):
    lti_user = LtiUserFactory(
        lti_consumer=consumer, lti_user_id="3", instance_guid="tool_instance_guid"
    )
    for sourcedid in ("s-1", "s-2"):
        outcomes.store_outcome_parameters(
            original_params(lis_result_sourcedid=sourcedid, user_id="3", resource_link_id="7"),
            lti_user.edx_user,
            consumer,
        )
    assignment = GradedAssignment.objects.get()
    assert (assignment.lti_user, assignment.lis_result_sourcedid) == (lti_user, "s-2")


def test_store_outcome_parameters_refuses_values_it_cannot_keep(consumer):
    long_url = "https://example.com/" + "a" * 1024
    with pytest.raises(InvalidLaunchParameter, match="lis_outcome_service_url"):
        outcomes.store_outcome_parameters(
            original_params(lis_outcome_service_url=long_url), UserFactory(), consumer
        )
    assert not OutcomeService.objects.exists()


# --- outcomes: XML, sending, replies -------------------------------------------------------


def test_generate_replace_result_xml():
    root = etree.fromstring(outcomes.generate_replace_result_xml("result_id", 0.25))
    assert root.findtext(".//ns:sourcedGUID/ns:sourcedId", namespaces=NS) == "result_id"
    assert root.findtext(".//ns:resultScore/ns:textString", namespaces=NS) == "0.25"
    uuid.UUID(root.findtext(".//ns:imsx_messageIdentifier", namespaces=NS))  # a fresh uuid


def test_sign_and_send_replace_result_and_check_its_response(assignment, outcome_server):
    xml = outcomes.generate_replace_result_xml(assignment.lis_result_sourcedid, 0.5)
    response = outcomes.sign_and_send_replace_result(assignment, xml)
    assert response.status_code == 200
    assert outcomes.check_replace_result_response(response) is True
    [received] = outcome_server.received
    assert (received.sourcedid, received.score) == (assignment.lis_result_sourcedid, "0.5")
    assert received.signature_ok and received.body_hash_ok and received.openedx_verified


def test_sign_and_send_replace_result_accepts_text(assignment, outcome_server):
    xml = outcomes.generate_replace_result_xml("s", 1.0).decode()
    assert outcomes.check_replace_result_response(
        outcomes.sign_and_send_replace_result(assignment, xml)
    )


@override_settings(LTI_PROVIDER={"ALLOW_INSECURE_OUTCOME_URLS": False})
def test_sign_and_send_replace_result_refuses_a_url_as_the_original(assignment, outcome_server):
    assert outcomes.sign_and_send_replace_result(assignment, b"<xml/>") is None
    assert outcome_server.received == []


def reply(status: int, content: bytes):
    return types.SimpleNamespace(status_code=status, content=content)


@pytest.mark.parametrize(
    ("response", "ok"),
    [
        (reply(200, REPLY.format(code="success", description="ok", ref="1").encode()), True),
        (reply(500, b""), False),
        (reply(200, b"<badly>formatted</xml>"), False),
        (reply(200, REPLY.format(code="failure", description="no", ref="1").encode()), False),
        (reply(200, REPLY.replace("<imsx_codeMajor>{code}</imsx_codeMajor>", "").encode()), False),
    ],
)
def test_check_replace_result_response(response, ok):
    assert outcomes.check_replace_result_response(response) is ok


def test_send_score_update(assignment, outcome_server):
    assert outcomes.send_score_update(assignment, 0.75) is True
    assert [r.score for r in outcome_server.received] == ["0.75"]


# --- outcomes: assignments of a problem ------------------------------------------------


class Block:
    """What the original walks: ``location`` and ``get_parent()`` (an XBlock)."""

    def __init__(self, location: str, parent: Block | None = None) -> None:
        self.location = UsageKey.from_string(location)
        self.parent = parent

    def get_parent(self) -> Block | None:
        return self.parent


def test_get_assignments_for_problem_follows_the_blocks_parents(db, outcome_service):
    course = "course-v1:Org+Course+Run"
    chapter = Block("block-v1:Org+Course+Run+type@chapter+block@c")
    vertical = Block("block-v1:Org+Course+Run+type@vertical+block@v", chapter)
    unit = Block("block-v1:Org+Course+Run+type@problem+block@p", vertical)
    user = UserFactory()
    on_unit = GradedAssignmentFactory(
        user=user, outcome_service=outcome_service, usage_key=unit.location
    )
    on_vertical = GradedAssignmentFactory(
        user=user, outcome_service=outcome_service, usage_key=vertical.location
    )
    GradedAssignmentFactory(
        outcome_service=outcome_service, usage_key=unit.location
    )  # another learner
    GradedAssignmentFactory(  # a sibling problem
        user=user,
        outcome_service=outcome_service,
        usage_key="block-v1:Org+Course+Run+type@problem+block@q",
    )
    found = outcomes.get_assignments_for_problem(unit, user.pk, CourseKey.from_string(course))
    assert sorted(a.pk for a in found) == sorted([on_unit.pk, on_vertical.pk])
    only_vertical = outcomes.get_assignments_for_problem(vertical, user.pk, course)
    assert [a.pk for a in only_vertical] == [on_vertical.pk]
    assert [a.pk for a in outcomes.get_assignments_for_problem(unit.location, user.pk, course)] == [
        on_unit.pk
    ]


# --- signature_validator ----------------------------------------------------------------


def signed_request(consumer, params=None):
    oauth = Client(
        consumer.consumer_key,
        client_secret=consumer.consumer_secret,
        signature_type=SIGNATURE_TYPE_BODY,
    )
    _uri, _headers, body = oauth.sign(
        URL,
        http_method="POST",
        body=urlencode(params or list(base_params().items())),
        headers={"Content-Type": FORM},
    )
    return RequestFactory().post(launch_path(), body, content_type=FORM, secure=True)


def test_signature_validator_verifies_a_launch_once(consumer):
    request = signed_request(consumer)
    assert SignatureValidator(consumer).verify(request) is True
    assert SignatureValidator(consumer).verify(request) is False  # a replay


def test_signature_validator_refuses_another_consumers_launch(consumer):
    other = LtiConsumerFactory()
    assert SignatureValidator(consumer).verify(signed_request(other)) is False


def test_signature_validator_refuses_a_tampered_launch(consumer):
    request = signed_request(consumer)
    tampered = urlencode(
        [(k, "Instructor" if k == "roles" else v) for k, v in parse_qsl(request.body.decode())]
    )
    assert not SignatureValidator(consumer).verify(
        RequestFactory().post(launch_path(), tampered, content_type=FORM, secure=True)
    )


def test_signature_validator_verifies_repeated_names(consumer):
    params = [*base_params().items(), ("custom_tag", "b"), ("custom_tag", "a")]
    assert SignatureValidator(consumer).verify(signed_request(consumer, params))


def test_signature_validator_client_key_and_secret(consumer):
    validator = SignatureValidator(consumer)
    assert validator.check_client_key(consumer.consumer_key)
    assert not validator.check_client_key("")
    assert validator.validate_client_key(consumer.consumer_key, None)
    assert validator.get_client_secret(consumer.consumer_key, None) == consumer.consumer_secret
    assert not validator.validate_client_key("someone-else", None)


# --- LTI_CUSTOM_PARAMS and the launch signal --------------------------------------------


@pytest.fixture
def launches():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    launch_success.connect(receiver, dispatch_uid="test-launches")
    yield seen
    launch_success.disconnect(dispatch_uid="test-launches")


@override_settings(LTI_CUSTOM_PARAMS=["custom_course_tag", "custom_missing"])
def test_lti_custom_params_reach_the_launch_signal(post_launch, launches):
    response = post_launch(custom_course_tag="cs101", custom_other="not-kept")
    assert response.status_code == 200
    [launch] = launches
    lti_user = LtiUser.objects.get()
    assert (launch["user"], launch["lti_user"]) == (lti_user.edx_user, lti_user)
    assert (str(launch["course_key"]), str(launch["usage_key"])) == (COURSE_ID, USAGE_ID)
    assert launch["launch_params"] == {
        "user_id": "lti-learner-1",
        "roles": "Learner",
        "context_id": "context-1",
        "resource_link_id": "resource-1",
        "tool_consumer_instance_guid": "",
        "custom_course_tag": "cs101",
    }


@override_settings(LTI_CUSTOM_PARAMS=["custom_course_tag"])
def test_custom_params_survive_the_login_and_resume(client, post_launch, consumer, launches):
    consumer.require_user_account = True
    consumer.save()
    learner = UserFactory(email="ada@example.com")
    response = post_launch(
        lis_person_contact_email_primary="ada@example.com", custom_course_tag="cs101"
    )
    assert response.status_code == 302 and launches == []
    client.force_login(learner)
    resume = response["Location"].split("next=", 1)[1]
    from urllib.parse import unquote

    assert client.get(unquote(resume)).status_code == 200
    [launch] = launches
    assert launch["launch_params"]["custom_course_tag"] == "cs101"


def test_a_failing_launch_receiver_does_not_fail_the_launch(post_launch, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("host bug")

    launch_success.connect(broken, dispatch_uid="test-broken")
    try:
        assert post_launch().status_code == 200
    finally:
        launch_success.disconnect(dispatch_uid="test-broken")
    assert "launch_success receiver" in caplog.text


def test_a_receiver_failing_in_the_database_leaves_the_launch_recorded(post_launch, consumer):
    def duplicate(sender, **kwargs):
        LtiConsumerFactory(consumer_name=consumer.consumer_name)  # IntegrityError

    launch_success.connect(duplicate, dispatch_uid="test-duplicate")
    try:
        response = post_launch(
            lis_result_sourcedid="src-1", lis_outcome_service_url="https://lms.example.com/o"
        )
    finally:
        launch_success.disconnect(dispatch_uid="test-duplicate")
    assert response.status_code == 200
    assert LtiUser.objects.count() == GradedAssignment.objects.count() == 1


@override_settings(LTI_CUSTOM_PARAMS="custom_course_tag")
def test_lti_custom_params_must_be_a_list(post_launch):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="LTI_CUSTOM_PARAMS"):
        post_launch()
