"""The resend_lti_scores management command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from lti_provider.models import GradedAssignment
from tests.factories import GradedAssignmentFactory
from tests.lti_provider.outcome_server import (  # noqa: F401  (fixtures)
    outcome_server_fixture,
    outcome_service_fixture,
)
from tests.lti_provider.score_reader import score_reader_fixture  # noqa: F401

COURSE = "course-v1:Org+Course+Run"
OTHER = "course-v1:Org+Other+Run"
P1 = "block-v1:Org+Course+Run+type@problem+block@p1"
P2 = "block-v1:Org+Course+Run+type@problem+block@p2"


@pytest.fixture
def assignments(outcome_service, score_reader):
    """Two scored problems in COURSE, one without a score, one in OTHER."""
    p1 = GradedAssignmentFactory(outcome_service=outcome_service, usage_key=P1)
    p2 = GradedAssignmentFactory(outcome_service=outcome_service, usage_key=P2)
    unscored = GradedAssignmentFactory(outcome_service=outcome_service, usage_key=P1)
    other = GradedAssignmentFactory(
        outcome_service=outcome_service,
        course_key=OTHER,
        usage_key="block-v1:Org+Other+Run+type@problem+block@p1",
    )
    score_reader[(p1.user_id, P1)] = (1, 4)
    score_reader[(p2.user_id, P2)] = (2, 2)
    score_reader[(other.user_id, str(other.usage_key))] = (0, 3)
    return {"p1": p1, "p2": p2, "unscored": unscored, "other": other}


def run(*args):
    out = StringIO()
    call_command("resend_lti_scores", *args, stdout=out)
    return out.getvalue()


def test_resends_the_scores_of_a_course(assignments, outcome_server):
    out = run("--course-id", COURSE)
    sent = {r.sourcedid: r.score for r in outcome_server.received}
    assert sent == {
        assignments["p1"].lis_result_sourcedid: "0.25",
        assignments["p2"].lis_result_sourcedid: "1.0",
    }
    assert all(r.signature_ok and r.body_hash_ok for r in outcome_server.received)
    assert "3 graded assignment(s) to resend." in out
    assert f"[1/3] assignment {assignments['p1'].pk}: sent 0.25" in out
    assert f"assignment {assignments['unscored'].pk}: no score" in out
    assert "Done: 2 sent, 1 skipped (no score), 0 failed." in out


def test_resending_raises_the_version(assignments, outcome_server):
    run("--course-id", COURSE, "--usage-id", P2)
    assert GradedAssignment.objects.get(pk=assignments["p2"].pk).version_number == 1
    assert GradedAssignment.objects.get(pk=assignments["p1"].pk).version_number == 0


def test_all_courses_without_a_filter(assignments, outcome_server):
    out = run()
    assert len(outcome_server.received) == 3
    assert "Done: 3 sent, 1 skipped (no score), 0 failed." in out


def test_several_courses(assignments, outcome_server):
    out = run("--course-id", COURSE, "--course-id", OTHER)
    assert "Done: 3 sent, 1 skipped" in out


def test_filter_by_usage_id(assignments, outcome_server):
    out = run("--course-id", COURSE, "--usage-id", P2)
    assert [r.sourcedid for r in outcome_server.received] == [
        assignments["p2"].lis_result_sourcedid
    ]
    assert "Done: 1 sent, 0 skipped (no score), 0 failed." in out


def test_dry_run_sends_nothing(assignments, outcome_server):
    out = run("--course-id", COURSE, "--dry-run")
    assert outcome_server.received == []
    assert "3 graded assignment(s) to check." in out
    assert "would send 0.25" in out
    assert "Done: 2 would be sent, 1 skipped (no score), 0 failed." in out
    assert not GradedAssignment.objects.filter(version_number__gt=0).exists()


def test_no_assignment(db, score_reader, outcome_server):
    out = run("--course-id", COURSE)
    assert "0 graded assignment(s)" in out
    assert "Done: 0 sent, 0 skipped (no score), 0 failed." in out


def test_failures_are_counted_and_the_exit_is_non_zero(assignments, outcome_server):
    outcome_server.answer("failure", "500")
    out = StringIO()
    with pytest.raises(CommandError, match=r"Done: 0 sent, 1 skipped \(no score\), 2 failed\."):
        call_command("resend_lti_scores", "--course-id", COURSE, stdout=out)
    assert "not sent: Outcome service answered 'failure': 'Refused by test'" in out.getvalue()
    assert "not sent: Outcome service 'http" in out.getvalue()
    assert len(outcome_server.received) == 2  # no retry in the command


def test_a_bad_score_from_the_hook_is_a_failure(assignments, outcome_server, score_reader):
    score_reader[(assignments["p1"].user_id, P1)] = (5, 4)
    with pytest.raises(CommandError, match="1 failed"):
        run("--course-id", COURSE, "--usage-id", P1)
    assert outcome_server.received == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--course-id", "not-a-course"], "Invalid course id"),
        (["--course-id", COURSE, "--usage-id", "nope"], "Invalid usage id"),
        (["--usage-id", P1], "needs exactly one --course-id"),
        (["--course-id", COURSE, "--course-id", OTHER, "--usage-id", P1], "exactly one"),
        (["--course-id", OTHER, "--usage-id", P1], r"is not in course course-v1:Org\+Other\+Run"),
    ],
)
def test_bad_arguments_exit_with_a_clear_message(db, score_reader, outcome_server, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert outcome_server.received == []


def test_without_the_score_reader_hook(db):
    with pytest.raises(CommandError, match=r"SCORE_READER'\] is not set"):
        run("--course-id", COURSE)


def test_bad_arguments_exit_non_zero_from_the_shell(db):
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "manage.py", "resend_lti_scores", "--course-id", "not-a-course"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode != 0
    assert "CommandError: Invalid course id" in result.stderr


def test_course_keys_as_the_original_takes_them(assignments, outcome_server):
    """``resend_lti_scores course-v1:... course-v1:...``, as in the original."""
    out = run(COURSE, OTHER)
    assert "4 graded assignment(s) to resend." in out
    assert len(outcome_server.received) == 3  # the unscored one is skipped
    assert run(OTHER).count("sent 0.0") == 1


def test_positional_and_option_course_keys_add_up(assignments, outcome_server):
    out = run(OTHER, "--course-id", COURSE)
    assert "4 graded assignment(s) to resend." in out


def test_a_positional_course_key_serves_usage_id(assignments, outcome_server):
    out = run(COURSE, "--usage-id", P2)
    assert "1 graded assignment(s) to resend." in out


def test_an_invalid_positional_course_key_is_a_clear_error(db):
    with pytest.raises(CommandError, match="Invalid course id"):
        run("not-a-course")
