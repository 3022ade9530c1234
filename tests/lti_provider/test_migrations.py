"""The upgrade of a database holding today's rows (migration 0003), on SQLite and PostgreSQL.

Rows are written with the models as they were (migration 0002's state), the
database is migrated, and then the learners launch again: each must land in
the account they had, two installations sharing a key must part from then
on, and only the newest of a learner's assignments on a block may be sent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from lti_provider.models import GradedAssignment, LtiConsumer, LtiUser, OutcomeService
from lti_provider.signals import score_changed
from tests.lti_provider.conftest import COURSE_ID, FORM, USAGE_ID, base_params, launch_path, sign
from tests.lti_provider.outcome_server import outcome_server_fixture  # noqa: F401  (fixture)

BEFORE = [("lti_provider", "0002_lti13_registration")]
#: This release's schema: 0003's changes, and 0004's table of spent nonces the launches need.
AFTER = [("lti_provider", "0004_spent_nonce")]
OTHER_PROBLEM = "block-v1:Org+Course+Run+type@problem+block@p2"
URL = "https://testserver" + launch_path()

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh graph for the next step


@pytest.fixture
def old_models() -> Iterator:
    """The app registry of migration 0002, with the database migrated back to it."""
    executor = migrate(BEFORE)
    try:
        yield executor.loader.project_state(BEFORE).apps
    finally:
        migrate(executor.loader.graph.leaf_nodes())


@pytest.fixture
def todays_rows(old_models, outcome_server):
    """Two consumers, three identities and five assignments, as today's code wrote them."""
    Consumer = old_models.get_model("lti_provider", "LtiConsumer")
    Identity = old_models.get_model("lti_provider", "LtiUser")
    Service = old_models.get_model("lti_provider", "OutcomeService")
    Assignment = old_models.get_model("lti_provider", "GradedAssignment")
    users = [get_user_model().objects.create_user(f"learner{n}") for n in range(3)]
    moodle = Consumer.objects.create(
        consumer_name="Moodle",
        consumer_key="moodle",
        consumer_secret="moodle-secret",
        instance_guid="moodle-a",
    )
    other = Consumer.objects.create(
        consumer_name="Other", consumer_key="other", consumer_secret="other-secret"
    )
    outcome_server.secrets["moodle"] = "moodle-secret"
    identities = {
        "moodle:3": Identity.objects.create(
            lti_consumer=moodle, lti_user_id="3", edx_user_id=users[0].pk
        ),
        "moodle:4": Identity.objects.create(
            lti_consumer=moodle, lti_user_id="4", edx_user_id=users[1].pk
        ),
        "other:3": Identity.objects.create(
            lti_consumer=other, lti_user_id="3", edx_user_id=users[2].pk
        ),
    }
    service = Service.objects.create(
        lti_consumer=moodle, lis_outcome_service_url=outcome_server.url
    )

    def assignment(user, sourcedid, usage_key=USAGE_ID):
        return Assignment.objects.create(
            user_id=user.pk,
            course_key=COURSE_ID,
            usage_key=usage_key,
            outcome_service=service,
            lis_result_sourcedid=sourcedid,
        )

    # One row per past Moodle launch (a fresh sourcedid each time), then others.
    moodle_launches = [assignment(users[0], f"launch-{n}") for n in range(3)]
    other_block = assignment(users[0], "other-block", OTHER_PROBLEM)
    second_learner = assignment(users[1], "second-learner")
    return {
        "users": users,
        "identities": {name: row.pk for name, row in identities.items()},
        "kept": [moodle_launches[-1].pk, other_block.pk, second_learner.pk],
    }


def launch(consumer_key: str, secret: str, **params) -> Client:
    client = Client()
    body = sign(URL, base_params(**params), consumer_key, secret)
    response = client.post(launch_path(), body, content_type=FORM, secure=True)
    assert response.status_code == 200, response.content
    return client


def logged_in(client: Client) -> int:
    return int(client.session[SESSION_KEY])


def test_the_upgrade_keeps_what_it_can_and_marks_identities_as_legacy(todays_rows):
    migrate(AFTER)
    assert set(LtiUser.objects.values_list("instance_guid", flat=True)) == {None}
    assert LtiConsumer.objects.get(consumer_key="moodle").instance_guid == "moodle-a"
    assert sorted(GradedAssignment.objects.values_list("pk", flat=True)) == sorted(
        todays_rows["kept"]
    )
    assert (
        GradedAssignment.objects.get(pk=todays_rows["kept"][0]).lis_result_sourcedid == "launch-2"
    )
    assert set(GradedAssignment.objects.values_list("lti_user", flat=True)) == {None}
    assert OutcomeService.objects.count() == 1


def test_existing_learners_keep_logging_in_to_their_accounts(todays_rows):
    migrate(AFTER)
    users = todays_rows["users"]
    assert (
        logged_in(
            launch("moodle", "moodle-secret", user_id="3", tool_consumer_instance_guid="moodle-a")
        )
        == users[0].pk
    )
    assert logged_in(launch("moodle", "moodle-secret", user_id="4")) == users[1].pk  # no guid sent
    assert (
        logged_in(launch("other", "other-secret", user_id="3", tool_consumer_instance_guid="x"))
        == users[2].pk
    )
    identities = {row.pk: row.instance_guid for row in LtiUser.objects.all()}
    assert identities == dict(
        zip(todays_rows["identities"].values(), ["moodle-a", "", "x"], strict=True)
    )
    # Each learner again, with the guid now recorded: the same accounts.
    assert (
        logged_in(
            launch("moodle", "moodle-secret", user_id="3", tool_consumer_instance_guid="moodle-a")
        )
        == users[0].pk
    )
    assert logged_in(launch("moodle", "moodle-secret", user_id="4")) == users[1].pk


def test_after_the_upgrade_a_second_installation_of_the_key_gets_its_own_learners(todays_rows):
    migrate(AFTER)
    first = logged_in(
        launch("moodle", "moodle-secret", user_id="3", tool_consumer_instance_guid="moodle-a")
    )
    second = logged_in(
        launch("moodle", "moodle-secret", user_id="3", tool_consumer_instance_guid="moodle-b")
    )
    assert first == todays_rows["users"][0].pk
    assert second not in {user.pk for user in todays_rows["users"]}


def test_two_consumers_may_record_one_guid_after_the_upgrade(todays_rows):
    migrate(AFTER)
    LtiConsumer.objects.create(
        consumer_name="Moodle tool 2", consumer_key="moodle-2", instance_guid="moodle-a"
    )
    assert LtiConsumer.objects.filter(instance_guid="moodle-a").count() == 2


def test_a_relaunch_after_the_upgrade_continues_the_newest_assignment_and_sends_once(
    todays_rows, outcome_server, django_capture_on_commit_callbacks
):
    migrate(AFTER)
    launch(
        "moodle",
        "moodle-secret",
        user_id="3",
        tool_consumer_instance_guid="moodle-a",
        lis_result_sourcedid="launch-3",
        lis_outcome_service_url=outcome_server.url,
    )
    continued = GradedAssignment.objects.get(pk=todays_rows["kept"][0])
    assert continued.lis_result_sourcedid == "launch-3"
    assert continued.lti_user_id == todays_rows["identities"]["moodle:3"]
    assert GradedAssignment.objects.count() == 3

    with django_capture_on_commit_callbacks(execute=True):
        score_changed.send(
            sender=None,
            user_id=todays_rows["users"][0].pk,
            course_id=COURSE_ID,
            usage_id=USAGE_ID,
            weighted_earned=1,
            weighted_possible=2,
        )
    [received] = outcome_server.received
    assert (received.sourcedid, received.score) == ("launch-3", "0.5")
    assert received.signature_ok and received.body_hash_ok


def test_the_upgrade_can_be_undone_before_anything_new_is_recorded(todays_rows):
    migrate(AFTER)
    migrate(BEFORE)
    executor = migrate(AFTER)
    assert executor.loader.graph.leaf_nodes()
    assert LtiUser.objects.count() == 3
