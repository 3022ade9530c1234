"""``send_verification_expiry_email``: who is mailed, once per expiry, batches, mail failures."""

from __future__ import annotations

import io
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from freezegun import freeze_time

from tests.factories import SoftwareSecurePhotoVerificationFactory, UserFactory
from verify_student.management.commands.send_verification_expiry_email import Command
from verify_student.models import SoftwareSecurePhotoVerification

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 15, 9, 30, tzinfo=UTC)
TODAY = NOW.replace(hour=0, minute=30)  # 00:30 on the day of the run
YESTERDAY = TODAY - timedelta(days=1)


def run(*args, command=None, **options):
    out = io.StringIO()
    call_command(command or "send_verification_expiry_email", *args, stdout=out, **options)
    return out.getvalue()


def attempt_expiring(at, user=None, status="approved", **fields):
    """An attempt whose expiry (created_at + DAYS_GOOD_FOR, 365 in tests) is ``at``."""
    attempt = SoftwareSecurePhotoVerificationFactory(user=user or UserFactory(), status=status)
    SoftwareSecurePhotoVerification.objects.filter(pk=attempt.pk).update(
        created_at=at - timedelta(days=365), **fields
    )
    return attempt


def recipients():
    return sorted(address for message in mail.outbox for address in message.to)


@pytest.fixture(autouse=True)
def frozen():
    with freeze_time(NOW) as frozen:
        yield frozen


def test_a_verification_that_expired_yesterday_is_mailed():
    user = UserFactory(email="ada@example.com", first_name="Ada", last_name="Lovelace")
    attempt = attempt_expiring(YESTERDAY, user=user, name="Augusta Ada King")

    output = run("--sleep-time", "0", "--verify-url", "https://lms.example.com/verify")

    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.from_email == "verification@example.com"
    assert message.subject == "Your Test LMS ID verification has expired"
    assert message.body.startswith("Hi Augusta Ada King,")
    assert "expired on June 14, 2024" in message.body
    assert "valid for 365 days" in message.body
    assert "verify again here: https://lms.example.com/verify" in message.body
    assert "The Test LMS team" in message.body
    assert output.splitlines() == [
        "1 verification(s) expired between 2024-06-14 and 2024-06-15 (UTC) without a newer one.",
        f"user {user.pk}: mailed (attempt {attempt.pk})",
        "batch 1/1: 1/1",
        "Done: 1 email(s) sent, 0 skipped (inactive or no email), 0 failed.",
    ]


def test_without_a_verify_url_the_learner_is_told_to_sign_in():
    attempt_expiring(YESTERDAY)
    run("--sleep-time", "0")
    assert "sign in and verify again" in mail.outbox[0].body


def test_only_expiries_in_the_range_before_today_are_mailed():
    yesterday_start = attempt_expiring(TODAY.replace(minute=0) - timedelta(days=1))
    yesterday_end = attempt_expiring(TODAY.replace(minute=0) - timedelta(microseconds=1))
    today = attempt_expiring(TODAY)  # tomorrow's run mails it
    two_days_ago = attempt_expiring(YESTERDAY - timedelta(days=1))
    week_ago = attempt_expiring(YESTERDAY - timedelta(days=6))
    not_yet = attempt_expiring(NOW + timedelta(days=3))

    run("--sleep-time", "0")
    assert recipients() == sorted([yesterday_start.user.email, yesterday_end.user.email])

    mail.outbox.clear()
    run("--days-range", "7", "--sleep-time", "0")
    # Yesterday's were mailed already: each expiry is mailed once.
    assert recipients() == sorted(a.user.email for a in [two_days_ago, week_ago])
    assert today.user.email not in recipients() and not_yet.user.email not in recipients()


def test_a_second_run_the_same_day_mails_nobody_twice():
    attempt = attempt_expiring(YESTERDAY)
    run("--sleep-time", "0")
    attempt.refresh_from_db()
    assert attempt.expiry_email_date == NOW
    mail.outbox.clear()
    output = run("--sleep-time", "0")
    assert mail.outbox == []
    assert output.startswith("0 verification(s) expired")


def test_a_dry_run_or_a_failed_send_does_not_count_as_mailed(settings, closed_port):
    attempt = attempt_expiring(YESTERDAY)
    run("--dry-run", "--sleep-time", "0")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    with pytest.raises(CommandError):
        run("--sleep-time", "0")
    attempt.refresh_from_db()
    assert attempt.expiry_email_date is None


def test_a_daily_run_mails_each_expiry_once(frozen):
    first = attempt_expiring(YESTERDAY)
    second = attempt_expiring(TODAY)
    sent = []
    for _day in range(3):
        mail.outbox.clear()
        run("--sleep-time", "0")
        sent.append(recipients())
        frozen.tick(timedelta(days=1))
    assert sent == [[first.user.email], [second.user.email], []]


def test_learners_who_verified_again_are_not_mailed():
    renewed = attempt_expiring(YESTERDAY)
    SoftwareSecurePhotoVerificationFactory(user=renewed.user, status="submitted")
    retrying = attempt_expiring(YESTERDAY)
    SoftwareSecurePhotoVerificationFactory(user=retrying.user, status="must_retry")
    # A newer attempt that was denied, or never sent, does not count.
    denied_since = attempt_expiring(YESTERDAY)
    SoftwareSecurePhotoVerificationFactory(user=denied_since.user, status="denied")
    abandoned = attempt_expiring(YESTERDAY)
    SoftwareSecurePhotoVerificationFactory(user=abandoned.user, status="created")

    run("--sleep-time", "0")

    assert recipients() == sorted([denied_since.user.email, abandoned.user.email])


def test_only_the_latest_approval_counts_and_only_approvals():
    user = UserFactory()
    attempt_expiring(YESTERDAY - timedelta(hours=2), user=user)
    attempt_expiring(YESTERDAY, user=user)  # two approvals expiring: one email
    attempt_expiring(YESTERDAY, status="denied")
    attempt_expiring(YESTERDAY, status="submitted")

    run("--sleep-time", "0")

    assert recipients() == [user.email]


def test_inactive_users_and_users_without_email_are_skipped():
    inactive = attempt_expiring(YESTERDAY, user=UserFactory(is_active=False))
    no_email = attempt_expiring(YESTERDAY, user=UserFactory(email=""))
    mailed = attempt_expiring(YESTERDAY)

    output = run("--sleep-time", "0")

    assert recipients() == [mailed.user.email]
    assert f"user {inactive.user.pk}: skipped (inactive or no email)" in output
    assert f"user {no_email.user.pk}: skipped (inactive or no email)" in output
    assert "Done: 1 email(s) sent, 2 skipped (inactive or no email), 0 failed." in output


def test_dry_run_sends_nothing():
    attempt = attempt_expiring(YESTERDAY)
    output = run("--dry-run", "--sleep-time", "0")
    assert mail.outbox == []
    assert f"user {attempt.user.pk}: would be mailed (attempt {attempt.pk})" in output
    assert output.rstrip().endswith(
        "Dry run: 1 email(s) would be sent, 0 skipped (inactive or no email), 0 failed. "
        "Nothing was sent."
    )


def test_nothing_to_send():
    assert run("--sleep-time", "0").splitlines() == [
        "0 verification(s) expired between 2024-06-14 and 2024-06-15 (UTC) without a newer one.",
        "Done: 0 email(s) sent, 0 skipped (inactive or no email), 0 failed.",
    ]


def test_batches_report_progress_and_pause():
    attempts = [attempt_expiring(YESTERDAY) for _ in range(5)]
    command = Command()
    pauses = []
    command.sleep = pauses.append

    output = run("--batch-size", "2", "--sleep-time", "10", command=command)

    assert recipients() == sorted(a.user.email for a in attempts)
    progress = [line for line in output.splitlines() if line.startswith("batch")]
    assert progress == ["batch 1/3: 2/5", "batch 2/3: 4/5", "batch 3/3: 5/5"]
    assert pauses == [10.0, 10.0]


# -- a real SMTP server on 127.0.0.1, refusing recipients whose address starts with "bounce" --


class _SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 test SMTP")
        while line := self.rfile.readline().decode().strip():
            verb = line.split(" ", 1)[0].upper()
            if verb == "RCPT" and "<bounce" in line.lower():
                self.reply("550 No such mailbox")
            elif verb == "DATA":
                self.reply("354 Go ahead")
                data = []
                while (chunk := self.rfile.readline().decode()).rstrip("\r\n") != ".":
                    data.append(chunk)
                self.server.received.append("".join(data))  # type: ignore[attr-defined]
                self.reply("250 Queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                self.reply("250 OK")


@pytest.fixture
def smtp_server(settings) -> Iterator[list[str]]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.server_address[:2]
    settings.EMAIL_TIMEOUT = 10
    yield server.received  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_mail_goes_through_smtp_and_a_refused_recipient_is_a_failure(smtp_server):
    good = attempt_expiring(YESTERDAY, user=UserFactory(email="ada@example.com"))
    bounced = attempt_expiring(YESTERDAY, user=UserFactory(email="bounce@example.com"))
    out = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("send_verification_expiry_email", "--sleep-time", "0", stdout=out)

    assert str(raised.value) == (
        "Done: 1 email(s) sent, 0 skipped (inactive or no email), 1 failed."
    )
    [delivered] = smtp_server
    assert "To: ada@example.com" in delivered
    output = out.getvalue()
    assert f"user {good.user.pk}: mailed" in output
    assert f"user {bounced.user.pk}: not sent: " in output


def test_an_unreachable_mail_server_fails_the_batch(settings, closed_port):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 5
    attempt_expiring(YESTERDAY)
    attempt_expiring(YESTERDAY)
    out = io.StringIO()

    with pytest.raises(CommandError, match=r"0 email\(s\) sent, .* 2 failed"):
        call_command("send_verification_expiry_email", "--sleep-time", "0", stdout=out)

    assert "could not connect to the mail server: " in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days-range", "0"], "--days-range must be a whole number of at least 1, not 0"),
        (["--days-range", "one"], "invalid int value: 'one'"),
        (["--batch-size", "0"], "--batch-size must be a whole number"),
        (["--sleep-time", "-1"], "--sleep-time must be a number"),
    ],
)
def test_bad_arguments(args, message):
    attempt_expiring(YESTERDAY)
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert mail.outbox == []
