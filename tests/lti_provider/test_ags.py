"""LTI 1.3 AGS: a launch records the line item; score_changed sends the score to the platform.

The platform (tests/lti_provider/lti13_platform.py) checks the tool's
client-credentials assertion against the tool's published JWKS and accepts
a score only with a bearer token it issued with the score scope.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from lti_provider import ags, tasks
from lti_provider.exceptions import InvalidOutcomeURL, OutcomeError
from lti_provider.models import Lti13GradedAssignment
from lti_provider.signals import score_changed
from tests.lti_provider.lti13_platform import (  # noqa: F401  (fixtures)
    COURSE_ID,
    LINEITEM_SCOPE,
    SCORE_SCOPE,
    USAGE_ID,
    login_and_launch,
    platform_fixture,
    registration_fixture,
)
from tests.lti_provider.score_reader import score_reader_fixture  # noqa: F401

pytestmark = pytest.mark.django_db
VERTICAL = "block-v1:Org+Course+Run+type@vertical+block@v1"


@pytest.fixture
def assignment(client, platform, registration):
    response = login_and_launch(client, platform, sub="learner-9", **platform.ags_claim())
    assert response.status_code == 200
    return Lti13GradedAssignment.objects.get()


def send(assignment, earned, possible, usage_id=USAGE_ID):
    score_changed.send(
        sender=None,
        user_id=assignment.user_id,
        course_id=COURSE_ID,
        usage_id=usage_id,
        weighted_earned=earned,
        weighted_possible=possible,
    )


def test_a_launch_with_the_ags_claim_records_the_line_item(assignment, platform, registration):
    assert assignment.registration == registration
    assert assignment.lineitem_url == platform.lineitem_url
    assert assignment.lti_user_id == "learner-9"
    assert (str(assignment.course_key), str(assignment.usage_key)) == (COURSE_ID, USAGE_ID)
    assert assignment.scopes == [SCORE_SCOPE, LINEITEM_SCOPE]
    assert assignment.version_number == 0


def test_a_relaunch_does_not_add_a_row_and_refreshes_the_scopes(client, platform, assignment):
    claim = platform.ags_claim(scopes=(SCORE_SCOPE,))
    assert login_and_launch(client, platform, sub="learner-9", **claim).status_code == 200
    assignment.refresh_from_db()
    assert Lti13GradedAssignment.objects.count() == 1
    assert assignment.scopes == [SCORE_SCOPE]


def test_no_score_scope_records_nothing(client, platform, registration):
    claim = platform.ags_claim(scopes=(LINEITEM_SCOPE,))
    assert login_and_launch(client, platform, **claim).status_code == 200
    assert not Lti13GradedAssignment.objects.exists()


@pytest.mark.parametrize(
    "endpoint",
    [
        {"scope": [SCORE_SCOPE]},  # no line item: we do not create line items
        {"scope": SCORE_SCOPE, "lineitem": "https://x.example.com/li"},  # scope not a list
        "not-an-object",
    ],
)
def test_unusable_ags_claims_are_skipped(client, platform, registration, endpoint):
    claim = {"https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": endpoint}
    assert login_and_launch(client, platform, **claim).status_code == 200
    assert not Lti13GradedAssignment.objects.exists()


@pytest.mark.parametrize("url", ["ftp://platform.example.com/li", "https:///li", "x" * 1100])
def test_a_refused_line_item_url_is_not_recorded(client, platform, registration, url):
    claim = {
        "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
            "scope": [SCORE_SCOPE],
            "lineitem": url,
        }
    }
    assert login_and_launch(client, platform, **claim).status_code == 200
    assert not Lti13GradedAssignment.objects.exists()


def test_score_changed_sends_the_score_with_a_client_credentials_token(
    assignment, platform, registration, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(assignment, 3, 4)

    [token_request] = platform.token_requests
    assert token_request["ok"], token_request
    assert SCORE_SCOPE in token_request["form"]["scope"].split()
    [received] = platform.scores
    assert received["authorized"]
    assert received["path"] == "/lineitems/7/scores"
    assert received["content_type"] == "application/vnd.ims.lis.v1.score+json"
    assert received["user_agent"].startswith("django-verify-student-lti/")  # names the tool
    score = received["score"]
    assert (score["scoreGiven"], score["scoreMaximum"]) == (0.75, 1.0)
    assert score["userId"] == "learner-9"
    assert (score["activityProgress"], score["gradingProgress"]) == ("Completed", "FullyGraded")
    assert score["timestamp"].endswith("+00:00")
    assignment.refresh_from_db()
    assert assignment.version_number == 1


def test_the_token_assertion_is_signed_with_the_registrations_key(
    assignment, platform, registration
):
    platform.tool_jwks = {"keys": []}  # the platform admin never pasted our key
    with pytest.raises(OutcomeError):
        tasks.send_ags_leaf_score.apply(args=(assignment.pk, 1, 1)).get()
    assert not platform.token_requests[0]["ok"]
    assert platform.scores == []


def test_nothing_is_sent_before_commit(assignment, platform, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        send(assignment, 1, 2)
    assert platform.scores == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert platform.scores[0]["score"]["scoreGiven"] == 0.5


def test_an_older_score_never_overwrites_a_newer_one(assignment, platform):
    assert not tasks.send_ags_leaf_score.apply(args=(assignment.pk, 1, 1, 5)).get()
    assert platform.scores == []


def test_a_deleted_assignment_is_dropped(assignment, platform):
    pk = assignment.pk
    assignment.delete()
    assert not tasks.send_ags_leaf_score.apply(args=(pk, 1, 1)).get()


def test_transient_failures_are_retried_then_delivered(assignment, platform, eager_retries):
    platform.score_answers.extend([500, 429])
    result = tasks.send_ags_leaf_score.apply(args=(assignment.pk, 1, 2))
    assert result.get() is True
    assert [s["authorized"] for s in platform.scores] == [True, True, True]


def test_retries_are_bounded(assignment, platform, eager_retries, settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "OUTCOME_MAX_RETRIES": 2}
    platform.score_answers.extend([503] * 10)
    result = tasks.send_ags_leaf_score.apply(args=(assignment.pk, 1, 2))
    assert result.failed()
    assert len(platform.scores) == 3


@pytest.mark.parametrize("status", [400, 404, 302])
def test_permanent_failures_are_not_retried(assignment, platform, eager_retries, status):
    platform.score_answers.append(status)
    result = tasks.send_ags_leaf_score.apply(args=(assignment.pk, 1, 2))
    assert result.failed()
    assert isinstance(result.result, OutcomeError)
    assert len(platform.scores) == 1


def test_a_token_refusal_is_not_retried(assignment, platform, eager_retries):
    platform.tool_jwks = {"keys": []}
    result = tasks.send_ags_leaf_score.apply(args=(assignment.pk, 1, 2))
    assert result.failed()
    assert len(platform.token_requests) == 1


def test_the_platform_unreachable_is_retried(assignment, platform, eager_retries, settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "OUTCOME_MAX_RETRIES": 1}
    Lti13GradedAssignment.objects.filter(pk=assignment.pk).update(
        lineitem_url="http://127.0.0.1:9/lineitems/7"
    )
    registration = assignment.registration
    registration.auth_token_url = "http://127.0.0.1:9/token"
    registration.save()
    result = tasks.send_ags_leaf_score.apply(args=(assignment.pk, 1, 2))
    assert result.failed()
    assert platform.scores == []


def test_ssrf_rules_refuse_before_any_request(assignment, platform, settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "ALLOW_PRIVATE_OUTCOME_HOSTS": False}
    with pytest.raises(InvalidOutcomeURL):
        tasks.send_ags_leaf_score.apply(args=(assignment.pk, 1, 2)).get()
    assert platform.token_requests == [] and platform.scores == []


def test_a_token_url_on_a_refused_host_is_not_contacted(assignment, platform, settings):
    registration = assignment.registration
    registration.auth_token_url = "ftp://127.0.0.1/token"
    registration.save()
    with pytest.raises(InvalidOutcomeURL):
        tasks.send_ags_leaf_score.apply(args=(assignment.pk, 1, 2)).get()
    assert platform.token_requests == []


def test_a_score_above_the_maximum_is_refused(assignment, platform):
    with pytest.raises(ValueError):
        tasks.send_ags_leaf_score.apply(args=(assignment.pk, 5, 2)).get()
    assert platform.scores == []


def test_composite_assignments_send_the_score_read_from_the_host(
    client, platform, registration, score_reader, django_capture_on_commit_callbacks, settings
):
    from tests.lti_provider.lti13_platform import CLAIM, target_link_uri

    target = target_link_uri(COURSE_ID, VERTICAL)
    response = login_and_launch(
        client,
        platform,
        login={"target_link_uri": target},
        sub="learner-c",
        **{CLAIM + "target_link_uri": target},
        **platform.ags_claim(),
    )
    assert response.status_code == 200
    composite = Lti13GradedAssignment.objects.get()
    score_reader[(composite.user_id, VERTICAL)] = (2, 8)
    with django_capture_on_commit_callbacks(execute=True):
        send(composite, 1, 1)  # a problem inside the vertical changed
    [received] = platform.scores
    assert received["score"]["scoreGiven"] == 0.25
    assert received["score"]["userId"] == "learner-c"


def test_a_composite_without_a_score_sends_nothing(client, platform, registration, score_reader):
    from tests.lti_provider.lti13_platform import CLAIM, target_link_uri

    target = target_link_uri(COURSE_ID, VERTICAL)
    login_and_launch(
        client,
        platform,
        login={"target_link_uri": target},
        **{CLAIM + "target_link_uri": target},
        **platform.ags_claim(),
    )
    composite = Lti13GradedAssignment.objects.get()
    assert not tasks.send_ags_composite_score.apply(
        args=(composite.user_id, COURSE_ID, composite.pk)
    ).get()
    assert platform.scores == []


def test_lti11_and_lti13_assignments_of_one_block_both_get_the_score(
    assignment, platform, django_capture_on_commit_callbacks
):
    from tests.factories import GradedAssignmentFactory
    from tests.lti_provider.outcome_server import OutcomeServer  # noqa: F401

    lti11 = GradedAssignmentFactory(user=assignment.user)
    with django_capture_on_commit_callbacks() as callbacks:
        send(assignment, 1, 1)
    assert len(callbacks) == 2  # one passback per version
    lti11.refresh_from_db()
    assignment.refresh_from_db()
    assert (lti11.version_number, assignment.version_number) == (1, 1)


def test_score_grade_rejects_nan():
    with pytest.raises(ValueError):
        ags.score_grade("u", float("nan"))


def test_the_admin_lists_ags_assignments_read_only(client, assignment, admin_user):
    client.force_login(admin_user)
    url = reverse("admin:lti_provider_lti13gradedassignment_change", args=[assignment.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert 'name="lineitem_url"' not in response.content.decode()
    add = reverse("admin:lti_provider_lti13gradedassignment_add")
    assert client.get(add).status_code == 403
