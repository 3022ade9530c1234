"""verify_student.client against a real review service on 127.0.0.1 and moto's S3."""

from __future__ import annotations

import datetime
import json
import logging
import ssl
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from tests.factories import SoftwareSecurePhotoVerificationFactory, UserFactory
from tests.verify_student.conftest import (
    SOFTWARE_SECURE_ACCESS_KEY,
    SOFTWARE_SECURE_SECRET_KEY,
    reviewer_open_key,
    reviewer_signature,
    reviewer_signing_message,
    start_reviewer,
)
from verify_student import client, ssencrypt
from verify_student.client import SoftwareSecureClient, submit_attempt
from verify_student.exceptions import SubmissionError
from verify_student.models import SoftwareSecurePhotoVerification, VerificationException

FACE = b"\xff\xd8\xff\xe0 face image " + bytes(range(256)) * 8
PHOTO_ID = b"\x89PNG\r\n\x1a\n photo id image " + bytes(range(255, -1, -1)) * 8
FACE_KEY = bytes.fromhex("32fe72aaf2abb44de9e161131b5435c8d37cbdb6f5df242ae860b283115f2dae")
BODY_KEYS = {
    "EdX-ID",
    "ExpectedName",
    "PhotoID",
    "PhotoIDKey",
    "SendResponseTo",
    "UserPhoto",
    "UserPhotoKey",
}

UNREACHABLE = "Could not reach the review service"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("callback_only_urlconf")]


@pytest.fixture
def ready_attempt(s3_photos):
    user = UserFactory(first_name="Ünïcødé", last_name="Learner")
    attempt = SoftwareSecurePhotoVerificationFactory(user=user)
    attempt.upload_face_image(FACE)
    attempt.upload_photo_id_image(PHOTO_ID)
    attempt.mark_ready()
    return attempt


def set_software_secure(settings, **values):
    config = {**settings.VERIFY_STUDENT}
    config["SOFTWARE_SECURE"] = {**config["SOFTWARE_SECURE"], **values}
    settings.VERIFY_STUDENT = config


def stored_photos(s3_photos, attempt):
    return {key: s3_photos.get(key) for key in s3_photos.object_keys() if attempt.receipt_id in key}


def reload(attempt):
    return SoftwareSecurePhotoVerification.objects.get(pk=attempt.pk)


# -- create_request --------------------------------------------------------------------------


@freeze_time("2018-01-02 10:20:30")
def test_create_request_headers_and_body(settings, ready_attempt, s3_photos):
    headers, body = SoftwareSecureClient().create_request(ready_attempt)

    assert set(headers) == {"Content-Type", "Date", "Authorization"}
    assert headers["Content-Type"] == "application/json"
    assert headers["Date"] == "Tue, 02 Jan 2018 10:20:30 GMT"
    assert set(body) == BODY_KEYS
    assert body["EdX-ID"] == ready_attempt.receipt_id
    assert body["ExpectedName"] == "Ünïcødé Learner"
    assert body["PhotoIDKey"] == ready_attempt.photo_id_key
    assert body["SendResponseTo"] == "https://testserver/verify_student/results_callback"
    photo_id_url = (
        f"{s3_photos.endpoint_url}/{s3_photos.bucket}/photo_id/{ready_attempt.receipt_id}?"
    )
    assert body["PhotoID"].startswith(photo_id_url)
    face_url = f"{s3_photos.endpoint_url}/{s3_photos.bucket}/face/{ready_attempt.receipt_id}?"
    assert body["UserPhoto"].startswith(face_url)
    assert reviewer_open_key(body["UserPhotoKey"]) == FACE_KEY
    assert all(len(line) <= 76 for line in body["UserPhotoKey"].splitlines())


def test_create_request_is_signed_as_the_reviewer_checks_it(settings, ready_attempt):
    headers, body = SoftwareSecureClient().create_request(ready_attempt)

    secret = settings.VERIFY_STUDENT["SOFTWARE_SECURE"]["API_SECRET_KEY"]
    access = settings.VERIFY_STUDENT["SOFTWARE_SECURE"]["API_ACCESS_KEY"]
    signature = reviewer_signature(secret, reviewer_signing_message(headers, body))
    assert headers["Authorization"] == f"SSI {access}:{signature}"


def test_send_response_to_follows_https_and_site_name(settings, ready_attempt):
    settings.HTTPS = "off"
    settings.SITE_NAME = "lms.example.com"

    _, body = SoftwareSecureClient().create_request(ready_attempt)

    assert body["SendResponseTo"] == "http://lms.example.com/verify_student/results_callback"


def test_send_response_to_names_the_apps_own_callback(settings):
    settings.ROOT_URLCONF = "tests.urls"

    assert SoftwareSecureClient.callback_url() == (
        f"https://testserver{reverse('verify_student_results_callback')}"
    )


def test_copy_id_photo_from_resends_the_earlier_photo_id(ready_attempt, s3_photos):
    earlier = ready_attempt
    later = SoftwareSecurePhotoVerificationFactory(user=earlier.user)
    later.upload_face_image(b"a new face")
    later.mark_ready()

    _, body = SoftwareSecureClient().create_request(later, copy_id_photo_from=earlier)

    assert f"/photo_id/{earlier.receipt_id}?" in body["PhotoID"]
    assert body["PhotoIDKey"] == earlier.photo_id_key
    assert f"/face/{later.receipt_id}?" in body["UserPhoto"]
    assert body["EdX-ID"] == later.receipt_id


def test_request_message_txt_renders_without_sending(reviewer, ready_attempt):
    text = ready_attempt.request_message_txt()

    header_txt, body_txt = text.split("\n\n", 1)
    assert [line.split(":", 1)[0] for line in header_txt.splitlines()] == [
        "Authorization",
        "Content-Type",
        "Date",
    ]
    body = json.loads(body_txt)
    assert set(body) == BODY_KEYS
    assert body_txt == json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False)
    assert reviewer.received == []


@pytest.mark.parametrize("missing", ["API_ACCESS_KEY", "API_SECRET_KEY", "RSA_PUBLIC_KEY"])
def test_a_missing_setting_is_improperly_configured(settings, ready_attempt, missing):
    set_software_secure(settings, **{missing: ""})

    with pytest.raises(ImproperlyConfigured, match=missing):
        SoftwareSecureClient().create_request(ready_attempt)


# -- send_request ----------------------------------------------------------------------------


def test_send_request_posts_sorted_indented_utf8_json(reviewer, ready_attempt):
    response = ready_attempt.send_request()

    assert response.status_code == 200
    [received] = reviewer.received
    assert received.signature_ok
    assert received.headers["Content-Type"] == "application/json"
    expected = json.dumps(received.body, indent=2, sort_keys=True, ensure_ascii=False)
    assert received.raw_body == expected.encode("utf-8")
    assert "Ünïcødé Learner".encode() in received.raw_body


def test_the_reviewer_decrypts_both_photos_from_the_presigned_urls(reviewer, ready_attempt):
    ready_attempt.send_request()

    [received] = reviewer.received
    assert received.photo_error == ""
    assert received.face_image == FACE
    assert received.photo_id_image == PHOTO_ID


def test_keyword_overrides_replace_the_settings(settings, reviewer, ready_attempt):
    set_software_secure(
        settings, API_URL="http://127.0.0.1:9/wrong", API_ACCESS_KEY="x", API_SECRET_KEY="y"
    )
    overridden = SoftwareSecureClient(
        api_url=reviewer.url,
        access_key=SOFTWARE_SECURE_ACCESS_KEY,
        secret_key=SOFTWARE_SECURE_SECRET_KEY,
        timeout=5,
    )

    response = overridden.send_request(ready_attempt)

    assert response.status_code == 200
    assert reviewer.received[0].signature_ok
    assert overridden.timeout == 5


def test_a_redirect_is_returned_not_followed(reviewer, ready_attempt):
    reviewer.answer(302, "moved", headers={"Location": reviewer.url + "/elsewhere"})

    response = ready_attempt.send_request()

    assert response.status_code == 302
    assert len(reviewer.received) == 1


def test_send_request_raises_submission_error_on_a_refused_connection(
    settings, ready_attempt, closed_port
):
    set_software_secure(settings, API_URL=f"http://127.0.0.1:{closed_port}/submit")

    with pytest.raises(SubmissionError, match="ConnectionRefusedError"):
        SoftwareSecureClient().send_request(ready_attempt)


# -- submit_attempt: outcomes ----------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204])
def test_a_2xx_marks_the_attempt_submitted(reviewer, ready_attempt, status):
    reviewer.answer(status)
    before = timezone.now()

    ready_attempt.submit()

    attempt = reload(ready_attempt)
    assert attempt.status == "submitted"
    assert before <= attempt.submitted_at <= timezone.now()
    assert reviewer.received[0].signature_ok


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (400, "Bad request: PhotoIDKey is malformed"),
        (401, "Unauthorized"),
        (500, "Internal Server Error: ünïcødé"),
        (503, "Service Unavailable"),
        (302, "Moved"),
    ],
)
def test_a_non_2xx_marks_must_retry_with_the_response_text(
    reviewer, ready_attempt, s3_photos, status, text
):
    photos = stored_photos(s3_photos, ready_attempt)
    photo_id_key = ready_attempt.photo_id_key
    reviewer.answer(status, text)

    ready_attempt.submit()

    attempt = reload(ready_attempt)
    assert attempt.status == "must_retry"
    assert attempt.error_msg == text
    assert attempt.submitted_at is None
    assert attempt.photo_id_key == photo_id_key
    assert stored_photos(s3_photos, ready_attempt) == photos


def test_an_empty_error_answer_keeps_the_status_code(reviewer, ready_attempt):
    reviewer.answer(500, "")

    ready_attempt.submit()

    assert reload(ready_attempt).error_msg == "HTTP 500"


def test_a_long_error_answer_is_truncated(reviewer, ready_attempt):
    reviewer.answer(400, "x" * 100_000)

    ready_attempt.submit()

    assert reload(ready_attempt).error_msg == "x" * client.MAX_ERROR_MSG_LENGTH


@pytest.fixture
def unreachable(request, settings, closed_port, reviewer):
    """Make the review service unreachable in the way the test's parameter names."""
    kind = request.param
    if kind == "refused":
        set_software_secure(settings, API_URL=f"http://127.0.0.1:{closed_port}/submit")
    elif kind == "timeout":
        settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "REQUEST_TIMEOUT": 0.5}
        reviewer.hang()
    else:
        reviewer.close_connection()
    return kind


@pytest.mark.parametrize(
    ("unreachable", "error"),
    [
        ("refused", f"{UNREACHABLE} (ConnectionError: ConnectionRefusedError)."),
        ("timeout", "Timed out talking to the review service (ReadTimeout)."),
        ("closed", f"{UNREACHABLE} (ConnectionError: RemoteDisconnected)."),
    ],
    indirect=["unreachable"],
)
def test_a_network_failure_marks_must_retry_and_loses_nothing(
    unreachable, error, ready_attempt, s3_photos
):
    photos = stored_photos(s3_photos, ready_attempt)
    photo_id_key = ready_attempt.photo_id_key

    ready_attempt.submit()  # records the failure, raises nothing

    attempt = reload(ready_attempt)
    assert attempt.status == "must_retry"
    assert attempt.error_msg == error
    assert attempt.photo_id_key == photo_id_key
    assert stored_photos(s3_photos, ready_attempt) == photos
    assert len(photos) == 2


def test_a_network_error_message_holds_no_url_or_credentials(settings, ready_attempt, closed_port):
    url = f"http://user:hunter2@127.0.0.1:{closed_port}/submit?token=sekrit"
    set_software_secure(settings, API_URL=url)

    ready_attempt.submit()

    error_msg = reload(ready_attempt).error_msg
    assert "ConnectionRefusedError" in error_msg
    for secret in ("hunter2", "sekrit", str(closed_port)):
        assert secret not in error_msg


def _self_signed_server_context(tmp_path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.fixture
def tls_reviewer(settings, tmp_path) -> Iterator:
    server = start_reviewer(settings, _self_signed_server_context(tmp_path))
    yield server
    server.stop()


def test_tls_certificates_are_verified(tls_reviewer, ready_attempt):
    # The original sent with verify=False; an untrusted certificate must now fail.
    assert tls_reviewer.url.startswith("https://127.0.0.1:")

    ready_attempt.submit()

    attempt = reload(ready_attempt)
    assert attempt.status == "must_retry"
    assert attempt.error_msg.startswith("Could not reach the review service (SSLError")
    assert tls_reviewer.received == []


def test_a_missing_api_url_raises_and_changes_nothing(settings, reviewer, ready_attempt):
    set_software_secure(settings, API_URL="")

    with pytest.raises(ImproperlyConfigured, match="API_URL"):
        ready_attempt.submit()

    assert reload(ready_attempt).status == "ready"
    assert reviewer.received == []


# -- submit_attempt: modes and statuses -------------------------------------------------------


def test_automatic_verify_for_testing_submits_without_sending(settings, reviewer, ready_attempt):
    settings.FEATURES = {**settings.FEATURES, "AUTOMATIC_VERIFY_STUDENT_IDENTITY_FOR_TESTING": True}

    ready_attempt.submit()

    attempt = reload(ready_attempt)
    assert attempt.status == "submitted"
    assert attempt.submitted_at is not None
    assert reviewer.received == []


@pytest.mark.parametrize("status", ["must_retry", "submitted"])
def test_a_resubmission_is_allowed(reviewer, ready_attempt, status):
    SoftwareSecurePhotoVerification.objects.filter(pk=ready_attempt.pk).update(status=status)
    attempt = reload(ready_attempt)

    submit_attempt(attempt)

    assert reload(attempt).status == "submitted"
    assert len(reviewer.received) == 1


@pytest.mark.parametrize("status", ["created", "approved", "denied"])
def test_submit_from_a_wrong_status_raises_and_changes_nothing(reviewer, s3_photos, status):
    attempt = SoftwareSecurePhotoVerificationFactory(status=status, photo_id_key="sealed")
    before = reload(attempt)

    with pytest.raises(VerificationException, match="submit"):
        attempt.submit()

    after = reload(attempt)
    assert (after.status, after.updated_at, after.error_msg, after.submitted_at) == (
        before.status,
        before.updated_at,
        before.error_msg,
        before.submitted_at,
    )
    assert reviewer.received == []


def test_logs_name_receipt_ids_but_no_secrets(caplog, reviewer, ready_attempt, s3_photos):
    caplog.set_level(logging.DEBUG)
    reviewer.answer(400, "reviewer says no")

    ready_attempt.submit()

    [received] = reviewer.received
    # The app's own records (boto and urllib3 debug logs are the host's to configure).
    text = "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith("verify_student")
    )
    assert ready_attempt.receipt_id in text
    secrets = [
        SOFTWARE_SECURE_SECRET_KEY,
        received.headers["Authorization"].split(":")[-1],
        received.body["UserPhotoKey"].splitlines()[0],
        received.body["PhotoIDKey"].splitlines()[0],
        "Signature=",
        "X-Amz-Signature",
        "reviewer says no",
    ]
    for secret in secrets:
        assert secret not in text


def test_the_signature_covers_what_is_sent(reviewer, ready_attempt):
    ready_attempt.submit()

    [received] = reviewer.received
    assert ssencrypt.has_valid_signature(
        "POST",
        received.headers,
        received.body,
        SOFTWARE_SECURE_ACCESS_KEY,
        SOFTWARE_SECURE_SECRET_KEY,
    )
