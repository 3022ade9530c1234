"""The reviewer's signed results callback: signature, answers, idempotency."""

import json
import time
from email.utils import formatdate
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse
from freezegun import freeze_time

from tests.factories import SoftwareSecurePhotoVerificationFactory
from verify_student import ssencrypt
from verify_student.models import (
    IcrvStatusEmailsConfiguration,
    SoftwareSecurePhotoVerification,
    VerificationCheckpoint,
    VerificationStatus,
)
from verify_student.views import MALFORMED_AUTHORIZATION

pytestmark = pytest.mark.django_db

ACCESS_KEY = "BBBBBBBBBBBBBBBBBBBB"
SECRET_KEY = "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
URL = "/verify_student/results_callback"
DATA = Path(__file__).resolve().parent.parent / "data"


def signed_post(client, body, *, access_key=ACCESS_KEY, secret_key=SECRET_KEY, raw=None, **extra):
    """POST as the reviewer does: Date and the JSON keys signed, not Content-Type."""
    headers = {"Date": formatdate(usegmt=True)}
    _msg, _sig, authorization = ssencrypt.generate_signed_message(
        "POST", headers, body if isinstance(body, dict) else {}, access_key, secret_key
    )
    headers = {
        "HTTP_DATE": headers["Date"],
        "HTTP_AUTHORIZATION": authorization,
        **extra,
    }
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **headers)


@pytest.fixture
def attempt():
    return SoftwareSecurePhotoVerificationFactory(status="submitted")


def body_for(attempt, result="PASS", reason="", message_type="You have been verified."):
    return {
        "EdX-ID": attempt.receipt_id,
        "Result": result,
        "Reason": reason,
        "MessageType": message_type,
    }


def snapshot():
    return list(SoftwareSecurePhotoVerification.objects.order_by("pk").values())


def test_url_name():
    assert reverse("verify_student_results_callback") == URL


@freeze_time("2018-01-01 00:05:00")  # the vector's Date, give or take the window
def test_the_vectors_message_is_accepted(client, settings, attempt):
    """The signing.json callback vector, with our attempt's receipt id."""
    vector = json.loads(DATA.joinpath("signing.json").read_text())["signing"][0]
    body = dict(vector["body"], **{"EdX-ID": attempt.receipt_id})
    _msg, _sig, auth = ssencrypt.generate_signed_message(
        "POST", vector["headers"], body, vector["access_key"], vector["secret_key"]
    )
    response = client.post(
        URL,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_DATE=vector["headers"]["Date"],
        HTTP_AUTHORIZATION=auth,
    )
    assert (response.status_code, response.content) == (200, b"OK!")
    attempt.refresh_from_db()
    assert attempt.status == "approved"
    assert attempt.reviewing_service == "SoftwareSecure"


def test_pass_approves(client, attempt):
    response = signed_post(client, body_for(attempt))
    assert response.status_code == 200
    attempt.refresh_from_db()
    assert attempt.status == "approved"


def test_fail_denies_keeping_the_raw_reason_and_message_type(client, attempt):
    response = signed_post(
        client,
        body_for(attempt, "FAIL", reason="Name mismatch on ID", message_type="NAME_MISMATCH"),
    )
    assert response.status_code == 200
    attempt.refresh_from_db()
    assert (attempt.status, attempt.error_msg, attempt.error_code) == (
        "denied",
        "Name mismatch on ID",
        "NAME_MISMATCH",
    )


def test_fail_with_structured_reason_is_kept_as_json_and_parsed(client, attempt):
    reason = [{"photoIdReasons": ["Not provided"]}]
    signed_post(client, body_for(attempt, "FAIL", reason=reason))
    attempt.refresh_from_db()
    assert json.loads(attempt.error_msg) == reason
    assert attempt.parsed_error_msg() == "No photo ID was provided."


def test_system_fail_marks_must_retry(client, attempt):
    response = signed_post(client, body_for(attempt, "SYSTEM FAIL", reason="decrypt failed"))
    assert response.status_code == 200
    attempt.refresh_from_db()
    assert (attempt.status, attempt.error_msg) == ("must_retry", "decrypt failed")


def test_unknown_result_is_refused_naming_the_known_ones(client, attempt):
    before = snapshot()
    response = signed_post(client, body_for(attempt, "MAYBE"))
    assert response.status_code == 400
    assert b"Known results: PASS, FAIL, SYSTEM FAIL" in response.content
    assert snapshot() == before


def test_invalid_json(client, attempt):
    before = snapshot()
    response = signed_post(client, {}, raw="{not json")
    assert response.status_code == 400
    assert response.content.startswith(b"Invalid JSON")
    assert snapshot() == before


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "3", "null"])
def test_json_that_is_not_an_object(client, raw):
    response = signed_post(client, {}, raw=raw)
    assert response.status_code == 400
    assert response.content == b"JSON should be dict."


@pytest.mark.parametrize(
    "tamper",
    [
        {"access_key": "AAAAAAAAAAAAAAAAAAAA"},
        {"secret_key": "wrong-secret"},
    ],
)
def test_wrong_access_key_or_signature_changes_nothing(client, attempt, tamper):
    before = snapshot()
    response = signed_post(client, body_for(attempt), **tamper)
    assert (response.status_code, response.content) == (400, b"Access key invalid")
    assert snapshot() == before


@pytest.mark.parametrize(
    "authorization",
    ["", "SSI", "SSI " + ACCESS_KEY, "Bearer x:y", f"SSI {ACCESS_KEY}:", f"SSI {ACCESS_KEY}:a:b"],
)
def test_malformed_authorization(client, attempt, authorization):
    before = snapshot()
    response = client.post(
        URL,
        data=json.dumps(body_for(attempt)),
        content_type="application/json",
        HTTP_DATE=formatdate(usegmt=True),
        HTTP_AUTHORIZATION=authorization,
    )
    # Still starts as the original's answer; then says what the header must be.
    assert (response.status_code, response.content) == (400, MALFORMED_AUTHORIZATION.encode())
    assert response.content.startswith(b"Access key invalid")
    assert snapshot() == before


def test_body_changed_after_signing_is_refused(client, attempt):
    body = body_for(attempt, "FAIL", reason="blurry")
    headers = {"Date": formatdate(usegmt=True)}
    _m, _s, auth = ssencrypt.generate_signed_message("POST", headers, body, ACCESS_KEY, SECRET_KEY)
    body["Result"] = "PASS"
    response = client.post(
        URL,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_DATE=headers["Date"],
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 400
    attempt.refresh_from_db()
    assert attempt.status == "submitted"


def test_truncated_signature_is_refused(client, attempt):
    body = body_for(attempt)
    headers = {"Date": formatdate(usegmt=True)}
    _m, _s, auth = ssencrypt.generate_signed_message("POST", headers, body, ACCESS_KEY, SECRET_KEY)
    response = client.post(
        URL,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_DATE=headers["Date"],
        HTTP_AUTHORIZATION=auth[:-5],
    )
    assert response.status_code == 400
    attempt.refresh_from_db()
    assert attempt.status == "submitted"


def test_unknown_receipt(client):
    response = signed_post(
        client, {"EdX-ID": "nope", "Result": "PASS", "Reason": "", "MessageType": ""}
    )
    assert (response.status_code, response.content) == (400, b"edX ID nope not found")


def test_attempt_not_submitted_is_refused(client):
    attempt = SoftwareSecurePhotoVerificationFactory(status="created")
    response = signed_post(client, body_for(attempt))
    assert response.status_code == 400
    attempt.refresh_from_db()
    assert attempt.status == "created"


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_callback_is_idempotent_and_checkpoints_get_one_row(client, attempt):
    checkpoint = VerificationCheckpoint.get_or_create_verification_checkpoint(
        "course-v1:Org+Course+Run", "block-v1:Org+Course+Run+type@edx-reverification-block+block@x"
    )
    checkpoint.add_verification_attempt(attempt)
    body = body_for(attempt, "FAIL", reason="blurry")
    assert signed_post(client, body).status_code == 200
    first = snapshot()
    assert signed_post(client, body).status_code == 200
    assert snapshot() == first
    assert list(VerificationStatus.objects.values_list("status", flat=True)) == ["denied"]
    assert attempt.history.filter(status="denied").count() == 1


def test_icrv_status_email_when_enabled(client, attempt, django_capture_on_commit_callbacks):
    checkpoint = VerificationCheckpoint.get_or_create_verification_checkpoint(
        "course-v1:Org+Course+Run", "block-v1:Org+Course+Run+type@edx-reverification-block+block@x"
    )
    checkpoint.add_verification_attempt(attempt)
    with django_capture_on_commit_callbacks(execute=True):
        signed_post(client, body_for(attempt))
    assert mail.outbox == []  # disabled by default

    IcrvStatusEmailsConfiguration.objects.create(enabled=True)
    other = SoftwareSecurePhotoVerificationFactory(status="submitted", user=attempt.user)
    checkpoint.add_verification_attempt(other)
    with django_capture_on_commit_callbacks(execute=True):
        signed_post(client, body_for(other))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [attempt.user.email]
    assert "approved" in mail.outbox[0].body


def test_a_stale_or_missing_date_is_refused(client, attempt):
    body = body_for(attempt)
    for date in ["Mon, 01 Jan 2018 00:00:00 GMT", "", "not a date"]:
        headers = {"Date": date}
        _m, _s, auth = ssencrypt.generate_signed_message(
            "POST", headers, body, ACCESS_KEY, SECRET_KEY
        )
        response = client.post(
            URL,
            data=json.dumps(body),
            content_type="application/json",
            HTTP_DATE=date,
            HTTP_AUTHORIZATION=auth,
        )
        assert response.status_code == 400
        assert b"Date header" in response.content
    attempt.refresh_from_db()
    assert attempt.status == "submitted"


def test_the_window_follows_the_setting(client, attempt, settings):
    settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "CALLBACK_MAX_AGE": 60}
    body = body_for(attempt)
    date = formatdate(timeval=time.time() - 120, usegmt=True)
    _m, _s, auth = ssencrypt.generate_signed_message(
        "POST", {"Date": date}, body, ACCESS_KEY, SECRET_KEY
    )
    response = client.post(
        URL,
        json.dumps(body),
        content_type="application/json",
        HTTP_DATE=date,
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 400


def test_a_replayed_pass_does_not_undo_a_later_staff_denial(client, attempt, staff_user):
    from verify_student import api

    body = body_for(attempt)
    headers = {"Date": formatdate(usegmt=True)}
    _m, _s, auth = ssencrypt.generate_signed_message("POST", headers, body, ACCESS_KEY, SECRET_KEY)

    def send():
        return client.post(
            URL,
            data=json.dumps(body),
            content_type="application/json",
            HTTP_DATE=headers["Date"],
            HTTP_AUTHORIZATION=auth,
        )

    assert send().status_code == 200
    attempt.refresh_from_db()
    api.review_attempt(attempt, "deny", staff_user, "The ID is not the learner's.")
    response = send()  # the captured PASS, sent again
    assert (response.status_code, response.content) == (200, b"OK!")
    attempt.refresh_from_db()
    assert (attempt.status, attempt.error_msg) == ("denied", "The ID is not the learner's.")


# -- JSON nested past the limit ------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 900, 100_000])
def test_a_body_nested_past_the_limit_is_400(client, attempt, depth):
    nested = "[" * depth + "]" * depth
    raw = f'{{"EdX-ID": "{attempt.receipt_id}", "Result": "PASS", "Reason": {nested}}}'
    before = snapshot()
    response = signed_post(client, {}, raw=raw)
    assert (response.status_code, response.content) == (
        400,
        b"JSON nested too deeply (more than 32 levels).",
    )
    assert snapshot() == before


def test_a_signed_body_nested_within_the_limit_is_applied(client, attempt):
    reason = ["blurry"]
    for _ in range(30):
        reason = [reason]
    response = signed_post(client, body_for(attempt, "FAIL", reason=reason))
    assert (response.status_code, response.content) == (200, b"OK!")
    attempt.refresh_from_db()
    assert attempt.status == "denied"


def test_the_reviewer_stand_in_refuses_nested_json_too(client, settings):
    raw = "[" * 100_000 + "]" * 100_000
    response = client.post(
        reverse("software-secure-fake-response"), data=raw, content_type="application/json"
    )
    assert response.status_code == 400
