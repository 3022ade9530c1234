"""``manual_verifications``: approved attempts for users named by email."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.factories import SoftwareSecurePhotoVerificationFactory, UserFactory
from verify_student.management.commands.manual_verifications import Command
from verify_student.models import SoftwareSecurePhotoVerification
from verify_student.services import IDVerificationService

pytestmark = pytest.mark.django_db


def run(*args, command=None, **options):
    out = io.StringIO()
    call_command(command or "manual_verifications", *args, stdout=out, **options)
    return out.getvalue()


def run_failing(*args, **options):
    """Run a command expected to fail after doing its work: (stdout, error message)."""
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("manual_verifications", *args, stdout=out, **options)
    return out.getvalue(), str(raised.value)


def attempts_of(user):
    return list(SoftwareSecurePhotoVerification.objects.filter(user=user))


def test_each_user_gets_an_approved_attempt():
    ada = UserFactory(email="ada@example.com", first_name="Ada", last_name="Lovelace")
    grace = UserFactory(email="Grace@Example.com")

    output = run("--email", "ada@example.com", "--email", "grace@example.COM ")

    [attempt] = attempts_of(ada)
    assert attempt.status == "approved"
    assert attempt.name == "Ada Lovelace"
    assert attempt.reviewing_service == "manual_verifications command"
    assert IDVerificationService.user_is_verified(ada)
    assert IDVerificationService.user_is_verified(grace)
    assert "2 email(s) to verify." in output
    assert f"ada@example.com: verified (attempt {attempt.pk})" in output
    assert "batch 1/1: 2/2" in output
    assert output.rstrip().endswith(
        "Done: 2 verified, 0 already verified, 0 unknown, 0 matching several users, 0 invalid."
    )


def test_the_full_name_resolver_names_the_attempt(settings):
    settings.VERIFY_STUDENT = {
        **settings.VERIFY_STUDENT,
        "FULL_NAME_RESOLVER": "tests.verify_student.test_commands_manual.shouted_name",
    }
    user = UserFactory(username="ada")
    run("--email", user.email)
    assert attempts_of(user)[0].name == "ADA"


def shouted_name(user):
    return user.username.upper()


def test_users_already_verified_are_skipped_and_an_expired_approval_renewed():
    verified = UserFactory()
    SoftwareSecurePhotoVerificationFactory(user=verified, status="approved")
    expired = UserFactory()
    old = SoftwareSecurePhotoVerificationFactory(user=expired, status="approved")
    SoftwareSecurePhotoVerification.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=400)
    )
    pending = UserFactory()
    SoftwareSecurePhotoVerificationFactory(user=pending, status="submitted")

    output = run("--email", verified.email, "--email", expired.email, "--email", pending.email)

    assert len(attempts_of(verified)) == 1
    assert len(attempts_of(expired)) == 2 and IDVerificationService.user_is_verified(expired)
    assert IDVerificationService.user_is_verified(pending)
    assert f"{verified.email}: already verified" in output
    assert "Done: 2 verified, 1 already verified" in output


def test_emails_repeated_in_any_case_are_handled_once():
    user = UserFactory(email="ada@example.com")
    output = run("--email", "ada@example.com", "--email", "ADA@example.com")
    assert len(attempts_of(user)) == 1
    assert "1 email(s) to verify." in output


def test_unknown_and_shared_emails_are_reported_and_the_rest_done():
    known = UserFactory()
    UserFactory(email="twin@example.com")
    UserFactory(email="Twin@example.com")

    output, error = run_failing(
        "--email", "nobody@example.com", "--email", known.email, "--email", "twin@example.com"
    )

    assert len(attempts_of(known)) == 1
    assert SoftwareSecurePhotoVerification.objects.count() == 1
    assert "nobody@example.com: no such user" in output
    assert "twin@example.com: several users have it" in output
    assert error == (
        "Done: 1 verified, 0 already verified, 1 unknown, 1 matching several users, 0 invalid."
    )


def test_a_file_of_emails_one_per_line(tmp_path):
    users = UserFactory.create_batch(3)
    path = tmp_path / "emails.txt"
    path.write_text("\n".join(["# learners verified in person", *[u.email for u in users], ""]))

    output = run("--email-ids-file", str(path))

    assert all(IDVerificationService.user_is_verified(user) for user in users)
    assert "Done: 3 verified" in output


def test_a_csv_file_with_a_header_and_other_columns(tmp_path):
    ada, grace = UserFactory.create_batch(2)
    path = tmp_path / "emails.csv"
    path.write_text(
        "name,email,notes\n"
        f'"Lovelace, Ada",{ada.email},"seen, checked"\n'
        f"Hopper,{grace.email},\n"
        "Nobody,not-an-email,\n"
    )

    output, error = run_failing("--email_ids_file", str(path), "--email", ada.email)

    assert IDVerificationService.user_is_verified(ada)
    assert IDVerificationService.user_is_verified(grace)
    assert "row 4: 'Nobody,not-an-email,' holds no email" in output
    assert error.endswith("1 invalid.")
    assert "Done: 2 verified" in error


def test_dry_run_changes_nothing():
    user = UserFactory()
    verified = UserFactory()
    SoftwareSecurePhotoVerificationFactory(user=verified, status="approved")

    output = run("--email", user.email, "--email", verified.email, "--dry-run")

    assert attempts_of(user) == []
    assert f"{user.email}: would be verified" in output
    assert "2 email(s) to check." in output
    assert output.rstrip().endswith(
        "Dry run: 1 would be verified, 1 already verified, 0 unknown, "
        "0 matching several users, 0 invalid. Nothing was changed."
    )


def test_batches_report_progress_pause_and_query_once_per_batch(django_assert_max_num_queries):
    users = UserFactory.create_batch(5)
    command = Command()
    pauses = []
    command.sleep = pauses.append
    args = [arg for user in users for arg in ("--email", user.email)]

    # Per batch: the users, their verified ids, one insert (plus savepoints/history) each.
    with django_assert_max_num_queries(2 * 3 + 5 * 3):
        output = run(*args, "--batch-size", "2", "--sleep-time", "1.5", command=command)

    assert all(IDVerificationService.user_is_verified(user) for user in users)
    progress = [line for line in output.splitlines() if line.startswith("batch")]
    assert progress == ["batch 1/3: 2/5", "batch 2/3: 4/5", "batch 3/3: 5/5"]
    assert pauses == [1.5, 1.5]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give at least one --email or an --email-ids-file with emails."),
        (["--email", "  "], "Give at least one --email"),
        (
            ["--email-ids-file", "{tmp}/missing.csv"],
            "The email file '.*missing.csv' does not exist",
        ),
        (["--email-ids-file", "{tmp}/empty.csv"], "Give at least one --email"),
        (["--email", "a@example.com", "--batch-size", "0"], "--batch-size must be a whole number"),
        (["--email", "a@example.com", "--sleep-time", "-1"], "--sleep-time must be a number"),
    ],
)
def test_bad_arguments(tmp_path, args, message):
    (tmp_path / "empty.csv").write_text("\n# nothing\n")
    UserFactory(email="a@example.com")
    with pytest.raises(CommandError, match=message):
        run(*[arg.format(tmp=tmp_path) for arg in args])
    assert SoftwareSecurePhotoVerification.objects.count() == 0
