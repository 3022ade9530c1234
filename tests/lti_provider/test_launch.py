"""The launch flow: consumer resolution, outcome recording, the host hook, queries, races."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import Client, override_settings

from lti_provider import launch
from lti_provider.exceptions import InvalidLaunchKeys, PendingLaunchNotFound
from lti_provider.launch import LaunchData, pop_pending_launch, save_pending_launch
from lti_provider.models import (
    MAX_OUTCOME_URL_LENGTH,
    MAX_SOURCEDID_LENGTH,
    GradedAssignment,
    LtiUser,
    OutcomeService,
)
from tests.factories import LtiConsumerFactory, LtiUserFactory, OutcomeServiceFactory
from tests.lti_provider.conftest import COURSE_ID, FORM, USAGE_ID, launch_path

OUTCOME_URL = "https://consumer.example.com/outcomes"


def custom_handler(request, course_key, usage_key):
    return HttpResponse(f"custom:{course_key}:{usage_key}:{request.user.get_username()}")


# --- the host hook ---------------------------------------------------------------------


def test_a_custom_launch_handler_renders_the_content(post_launch):
    hooks = {"LAUNCH_HANDLER": "tests.lti_provider.test_launch.custom_handler"}
    with override_settings(LTI_PROVIDER=hooks):
        response = post_launch()
    assert response.status_code == 200
    user = LtiUser.objects.get().edx_user
    assert response.content.decode() == f"custom:{COURSE_ID}:{USAGE_ID}:{user.username}"


def test_the_handler_receives_parsed_keys(post_launch):
    seen = {}

    def handler(request, course_key, usage_key):
        seen.update(course=course_key, usage=usage_key)
        return HttpResponse("ok")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(launch.app_settings), "launch_handler", property(lambda self: handler))
        assert post_launch().status_code == 200
    assert str(seen["course"]) == COURSE_ID
    assert str(seen["usage"]) == USAGE_ID
    assert seen["usage"].course_key == seen["course"]


# --- consumer resolution ---------------------------------------------------------------


def test_a_first_guid_is_recorded_on_the_consumer(post_launch, consumer):
    consumer.instance_guid = None
    consumer.save()
    assert post_launch(tool_consumer_instance_guid="guid-new").status_code == 200
    consumer.refresh_from_db()
    assert consumer.instance_guid == "guid-new"


def test_a_known_guid_of_the_signing_consumer_is_fine(post_launch, consumer):
    assert post_launch(tool_consumer_instance_guid=consumer.instance_guid).status_code == 200


def test_an_unrecorded_guid_does_not_replace_a_recorded_one(post_launch, consumer):
    old = consumer.instance_guid
    assert post_launch(tool_consumer_instance_guid="another-guid").status_code == 200
    consumer.refresh_from_db()
    assert consumer.instance_guid == old


# --- outcome recording -----------------------------------------------------------------


def test_a_graded_launch_records_the_outcome_service_and_assignment(post_launch, consumer):
    response = post_launch(lis_result_sourcedid="src-1", lis_outcome_service_url=OUTCOME_URL)
    assert response.status_code == 200
    service = OutcomeService.objects.get()
    assert (service.lis_outcome_service_url, service.lti_consumer) == (OUTCOME_URL, consumer)
    assignment = GradedAssignment.objects.get()
    assert assignment.outcome_service == service
    assert assignment.lis_result_sourcedid == "src-1"
    assert str(assignment.course_key) == COURSE_ID
    assert str(assignment.usage_key) == USAGE_ID
    assert assignment.user == LtiUser.objects.get().edx_user


def test_a_relaunch_records_nothing_new(post_launch):
    for _ in range(3):
        response = post_launch(lis_result_sourcedid="src-1", lis_outcome_service_url=OUTCOME_URL)
        assert response.status_code == 200
    assert OutcomeService.objects.count() == 1
    assert GradedAssignment.objects.count() == 1
    assert LtiUser.objects.count() == 1


def test_another_resource_link_of_the_same_service_adds_an_assignment(post_launch):
    post_launch(lis_result_sourcedid="src-1", lis_outcome_service_url=OUTCOME_URL)
    other = launch_path(usage_id="block-v1:Org+Course+Run+type@problem+block@p2")
    post_launch(
        other,
        resource_link_id="resource-2",
        lis_result_sourcedid="src-2",
        lis_outcome_service_url=OUTCOME_URL,
    )
    assert OutcomeService.objects.count() == 1
    assert GradedAssignment.objects.count() == 2


def test_a_relaunch_with_a_new_sourcedid_replaces_it(post_launch):
    """The tool keeps only the latest sourcedid per resource link and user (LTI 1.1)."""
    for sourcedid in ("src-1", "src-2", "src-3"):
        response = post_launch(lis_result_sourcedid=sourcedid, lis_outcome_service_url=OUTCOME_URL)
        assert response.status_code == 200
    assignment = GradedAssignment.objects.get()
    assert assignment.lis_result_sourcedid == "src-3"
    assert (assignment.resource_link_id, assignment.lti_user) == (
        "resource-1",
        LtiUser.objects.get(),
    )


def test_a_resource_link_that_now_launches_another_block_follows_it(post_launch):
    post_launch(lis_result_sourcedid="src-1", lis_outcome_service_url=OUTCOME_URL)
    other = "block-v1:Org+Course+Run+type@problem+block@p2"
    post_launch(
        launch_path(usage_id=other),
        lis_result_sourcedid="src-1",
        lis_outcome_service_url=OUTCOME_URL,
    )
    assert str(GradedAssignment.objects.get().usage_key) == other


def test_a_resource_link_whose_outcome_url_moved_follows_it(post_launch, consumer):
    post_launch(lis_result_sourcedid="src-1", lis_outcome_service_url=OUTCOME_URL)
    moved = "https://new-host.example.com/outcomes"
    post_launch(lis_result_sourcedid="src-1", lis_outcome_service_url=moved)
    assignment = GradedAssignment.objects.get()
    assert assignment.outcome_service.lis_outcome_service_url == moved
    assert assignment.outcome_service.lti_consumer == consumer


def test_an_ungraded_launch_records_no_outcome(post_launch):
    assert post_launch().status_code == 200
    assert not OutcomeService.objects.exists()
    assert not GradedAssignment.objects.exists()


def test_a_sourcedid_without_service_url_is_skipped(post_launch):
    assert post_launch(lis_result_sourcedid="src-1").status_code == 200
    assert not GradedAssignment.objects.exists()


@override_settings(LTI_PROVIDER={"ALLOW_INSECURE_OUTCOME_URLS": False})
def test_a_refused_outcome_url_is_not_recorded_but_the_content_shows(post_launch):
    response = post_launch(
        lis_result_sourcedid="src-1", lis_outcome_service_url="http://consumer.example.com/o"
    )
    assert response.status_code == 200
    assert not OutcomeService.objects.exists()
    assert not GradedAssignment.objects.exists()


def test_outcome_values_of_the_lengths_lti_allows_are_kept(post_launch):
    """URLs up to the 1023 characters of the LTI 1.1 implementation guide; long sourcedids."""
    url = OUTCOME_URL + "/" + "a" * (MAX_OUTCOME_URL_LENGTH - len(OUTCOME_URL) - 1)
    sourcedid = "s" * MAX_SOURCEDID_LENGTH
    response = post_launch(lis_result_sourcedid=sourcedid, lis_outcome_service_url=url)
    assert response.status_code == 200
    assignment = GradedAssignment.objects.get()
    assert len(assignment.outcome_service.lis_outcome_service_url) == MAX_OUTCOME_URL_LENGTH
    assert assignment.lis_result_sourcedid == sourcedid


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"lis_outcome_service_url": OUTCOME_URL + "/" + "a" * 1024}, "lis_outcome_service_url"),
        ({"lis_result_sourcedid": "s" * (MAX_SOURCEDID_LENGTH + 1)}, "lis_result_sourcedid"),
        ({"lis_outcome_service_url": OUTCOME_URL + "/é"}, "lis_outcome_service_url"),
        ({"lis_outcome_service_url": OUTCOME_URL + "/a b"}, "lis_outcome_service_url"),
        ({"resource_link_id": "r" * 256}, "resource_link_id"),
    ],
)
def test_outcome_values_that_cannot_be_kept_are_refused_at_the_launch(
    post_launch, overrides, named
):
    """Nothing is dropped silently: the consumer hears why, and nothing is written."""
    params = {"lis_result_sourcedid": "src-1", "lis_outcome_service_url": OUTCOME_URL, **overrides}
    response = post_launch(**params)
    assert response.status_code == 400
    assert named in response.content.decode()
    assert not (LtiUser.objects.exists() or GradedAssignment.objects.exists())


def test_an_outcome_url_is_not_checked_when_no_score_is_asked_for(post_launch):
    """Instructor launches carry the service URL but no sourcedid: nothing is kept."""
    response = post_launch(lis_outcome_service_url=OUTCOME_URL + "/" + "a" * 1024)
    assert response.status_code == 200
    assert not OutcomeService.objects.exists()


def test_a_shared_outcome_url_is_recorded_per_consumer(post_launch, consumer):
    """Moodle serves every key of a site at one /mod/lti/service.php: no one can take it."""
    theirs = OutcomeServiceFactory(lis_outcome_service_url=OUTCOME_URL)
    response = post_launch(lis_result_sourcedid="src-1", lis_outcome_service_url=OUTCOME_URL)
    assert response.status_code == 200
    ours = OutcomeService.objects.get(lti_consumer=consumer)
    assert ours.lis_outcome_service_url == OUTCOME_URL
    assert ours != theirs
    assert OutcomeService.objects.get(pk=theirs.pk).lti_consumer == theirs.lti_consumer
    assert GradedAssignment.objects.get().outcome_service == ours


def test_each_learner_keeps_the_sourcedid_their_launch_sent(post_launch):
    """A consumer reusing a sourcedid for two learners writes its own gradebook twice."""
    post_launch(lis_result_sourcedid="src-1", lis_outcome_service_url=OUTCOME_URL)
    post_launch(
        user_id="someone-else", lis_result_sourcedid="src-1", lis_outcome_service_url=OUTCOME_URL
    )
    rows = GradedAssignment.objects.order_by("pk")
    assert [row.lti_user.lti_user_id for row in rows] == ["lti-learner-1", "someone-else"]
    assert [row.user for row in rows] == [row.lti_user.edx_user for row in rows]


# --- pending launches ------------------------------------------------------------------


def test_a_pending_launch_round_trips_once(db):
    data = LaunchData(
        consumer_id=1,
        lti_user_id="u",
        course_id=COURSE_ID,
        usage_id=USAGE_ID,
        email="a@example.com",
        result_sourcedid="s",
        outcome_service_url=OUTCOME_URL,
    )
    token = save_pending_launch(data)
    assert pop_pending_launch(token) == data
    with pytest.raises(PendingLaunchNotFound):
        pop_pending_launch(token)


def test_pending_tokens_are_unguessable(db):
    data = LaunchData(consumer_id=1, lti_user_id="u", course_id=COURSE_ID, usage_id=USAGE_ID)
    tokens = {save_pending_launch(data) for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 40 for t in tokens)


def test_a_launch_keeps_its_parsed_keys_but_stores_only_its_fields():
    course_key, usage_key = launch.parse_launch_keys(COURSE_ID, USAGE_ID)
    data = LaunchData.of_keys(course_key, usage_key, consumer_id=1, lti_user_id="u")
    assert data.course_key is course_key
    assert data.usage_key is usage_key
    stored = dataclasses.asdict(data)
    assert set(stored) == {field.name for field in dataclasses.fields(LaunchData)}
    assert (stored["course_id"], stored["usage_id"]) == (str(course_key), str(usage_key))
    assert LaunchData(**stored) == data
    assert LaunchData(**stored).usage_key == usage_key


def test_parsed_keys_are_reused_and_refusals_are_not_kept():
    assert launch.parse_launch_keys(COURSE_ID, USAGE_ID) is launch.parse_launch_keys(
        COURSE_ID, USAGE_ID
    )
    for _ in range(2):
        with pytest.raises(InvalidLaunchKeys):
            launch.parse_launch_keys(COURSE_ID, "not-a-usage-key")


def test_a_spent_marker_without_data_is_not_found(db):
    with pytest.raises(PendingLaunchNotFound):
        pop_pending_launch("never-saved")


# --- queries ---------------------------------------------------------------------------

#: A known user's relaunch (guid and outcome rows already recorded): consumer by
#: key with the identity and its user (one query), login (session existence check, insert in its
#: savepoint, last_login), outcome service and assignment get_or_create, and
#: the session save, and the spent nonce's insert (here in a savepoint, the test's
#: transaction being open: savepoint, insert, release; one insert in autocommit).
#: No transaction of the launch's own (nothing to record for the consumer) and no
#: second lookup by LtiBackend. Counted on SQLite and PostgreSQL alike.
KNOWN_USER_LAUNCH_QUERIES = 14


@pytest.mark.parametrize("population", [1, 50])
def test_a_known_user_launch_costs_a_fixed_number_of_queries(
    consumer, signed_launch, population, django_assert_num_queries
):
    """The same count with 1 or 50 consumers, each with 1 or 50 identities."""
    others = [LtiConsumerFactory() for _ in range(population - 1)]
    for owner in [consumer, *others]:
        for _ in range(population):
            LtiUserFactory(lti_consumer=owner)
    graded = {
        "lis_result_sourcedid": "src-1",
        "lis_outcome_service_url": OUTCOME_URL,
        "tool_consumer_instance_guid": consumer.instance_guid,
    }
    first = Client().post(launch_path(), signed_launch(**graded), content_type=FORM, secure=True)
    assert first.status_code == 200  # now a known user, with its outcome rows
    body = signed_launch(**graded)

    with django_assert_num_queries(KNOWN_USER_LAUNCH_QUERIES):
        response = Client().post(launch_path(), body, content_type=FORM, secure=True)
    assert response.status_code == 200
    assert LtiUser.objects.count() == population * population + 1


# --- concurrency (PostgreSQL) ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_launches_make_one_lti_user(signed_launch):
    threads_count = 6
    bodies = [signed_launch() for _ in range(threads_count)]  # distinct nonces
    barrier = threading.Barrier(threads_count)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def first_launch(body: str) -> None:
        try:
            barrier.wait(timeout=10)
            response = Client().post(launch_path(), body, content_type=FORM, secure=True)
            statuses.append(response.status_code)
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_launch, args=(b,)) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert statuses == [200] * threads_count
    assert LtiUser.objects.filter(lti_user_id="lti-learner-1").count() == 1
    lti_user = LtiUser.objects.get()
    from django.contrib.auth import get_user_model

    # Losers' accounts were rolled back with their savepoints.
    assert get_user_model().objects.filter(email__endswith="@lti.example.com").count() == 1
    assert lti_user.edx_user.email.endswith("@lti.example.com")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_launches_of_two_installations_share_out_a_legacy_identity(
    consumer, signed_launch
):
    """One identity recorded before guids counted: the first launch takes it, the other
    installation's learner gets an account of their own, and nobody gets a 500."""
    legacy = LtiUserFactory(lti_consumer=consumer, lti_user_id="lti-learner-1", instance_guid=None)
    guids = ["moodle-a", "moodle-b"] * 3
    bodies = [signed_launch(tool_consumer_instance_guid=guid) for guid in guids]
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[str, int, str]] = []
    errors: list[BaseException] = []

    def run(guid: str, body: str) -> None:
        try:
            client = Client()
            barrier.wait(timeout=10)
            response = client.post(launch_path(), body, content_type=FORM, secure=True)
            results.append((guid, response.status_code, client.session.get("_auth_user_id", "")))
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in zip(guids, bodies, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sorted(status for _guid, status, _user in results) == [200] * len(bodies)
    accounts = {guid: {user for g, _s, user in results if g == guid} for guid in set(guids)}
    assert all(len(users) == 1 for users in accounts.values())  # one account per installation
    assert accounts["moodle-a"] != accounts["moodle-b"]
    assert str(legacy.edx_user.pk) in accounts["moodle-a"] | accounts["moodle-b"]
    assert LtiUser.objects.filter(instance_guid__isnull=True).count() == 0
    assert LtiUser.objects.count() == 2
