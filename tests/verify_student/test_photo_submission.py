"""The model's photo methods end to end: upload -> mark_ready -> submit, on moto S3
and a real review service on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.factories import SoftwareSecurePhotoVerificationFactory, UserFactory
from tests.verify_student.conftest import reviewer_decrypt, reviewer_open_key
from verify_student import ssencrypt
from verify_student.exceptions import PhotoStorageError
from verify_student.models import SoftwareSecurePhotoVerification, VerificationException

FACE = b"\xff\xd8\xff\xe0 face " + bytes(range(256)) * 16
PHOTO_ID = b"\x89PNG\r\n\x1a\n id " + bytes(range(256)) * 16
FACE_KEY = bytes.fromhex("32fe72aaf2abb44de9e161131b5435c8d37cbdb6f5df242ae860b283115f2dae")

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("callback_only_urlconf")]


@pytest.fixture
def attempt():
    user = UserFactory(first_name="Grace", last_name="Hopper")
    return SoftwareSecurePhotoVerificationFactory(user=user, name="")


def reload(attempt):
    return SoftwareSecurePhotoVerification.objects.get(pk=attempt.pk)


def test_upload_face_image_stores_only_ciphertext(attempt, s3_photos):
    attempt.upload_face_image(FACE)

    stored = s3_photos.get(f"face/{attempt.receipt_id}")
    assert FACE not in stored
    assert FACE[:16] not in stored
    assert ssencrypt.decode_and_decrypt(stored, FACE_KEY) == FACE
    assert reviewer_decrypt(stored, FACE_KEY) == FACE


def test_upload_photo_id_image_keeps_only_the_sealed_key(attempt, s3_photos):
    attempt.upload_photo_id_image(PHOTO_ID)

    saved = reload(attempt)
    stored = s3_photos.get(f"photo_id/{attempt.receipt_id}")
    aes_key = reviewer_open_key(saved.photo_id_key)
    assert len(aes_key) == 32
    assert aes_key.hex() not in saved.photo_id_key
    assert PHOTO_ID not in stored
    assert reviewer_decrypt(stored, aes_key) == PHOTO_ID
    # The site's own face key cannot open the ID photo: it has a key of its own.
    with pytest.raises(ValueError, match=r"[Pp]adding"):
        ssencrypt.decode_and_decrypt(stored, FACE_KEY)


def test_each_attempt_gets_its_own_photo_id_key(s3_photos):
    first, second = SoftwareSecurePhotoVerificationFactory.create_batch(2)

    first.upload_photo_id_image(PHOTO_ID)
    second.upload_photo_id_image(PHOTO_ID)

    assert reviewer_open_key(first.photo_id_key) != reviewer_open_key(second.photo_id_key)
    assert s3_photos.get(f"photo_id/{first.receipt_id}") != s3_photos.get(
        f"photo_id/{second.receipt_id}"
    )


def test_uploading_again_replaces_the_photo(attempt, s3_photos):
    attempt.upload_face_image(b"first try")
    attempt.upload_face_image(FACE)

    assert [key for key in s3_photos.object_keys() if key.startswith("face/")] == [
        f"face/{attempt.receipt_id}"
    ]
    assert reviewer_decrypt(s3_photos.get(f"face/{attempt.receipt_id}"), FACE_KEY) == FACE


def test_image_url_is_a_presigned_url_of_the_stored_photo(attempt, s3_photos):
    attempt.upload_face_image(FACE)

    url = attempt.image_url("face")

    assert url.startswith(f"{s3_photos.endpoint_url}/{s3_photos.bucket}/face/{attempt.receipt_id}?")
    assert "Signature=" in url or "X-Amz-Signature=" in url


def test_upload_during_an_s3_outage_raises_and_keeps_the_attempt(settings, attempt, closed_port):
    from botocore.config import Config

    from tests.verify_student.conftest import point_storage_at

    point_storage_at(
        settings,
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        client_config=Config(retries={"total_max_attempts": 1}),
    )

    with pytest.raises(PhotoStorageError):
        attempt.upload_photo_id_image(PHOTO_ID)

    saved = reload(attempt)
    assert saved.status == "created"
    assert saved.photo_id_key == ""


def test_the_whole_flow_reaches_the_reviewer_and_is_submitted(attempt, s3_photos, reviewer):
    attempt.upload_face_image(FACE)
    attempt.upload_photo_id_image(PHOTO_ID)
    attempt.mark_ready()
    assert reload(attempt).status == "ready"

    attempt.submit()

    saved = reload(attempt)
    assert saved.status == "submitted"
    assert saved.submitted_at is not None
    assert saved.name == "Grace Hopper"
    [received] = reviewer.received
    assert received.signature_ok
    assert received.body["EdX-ID"] == attempt.receipt_id
    assert received.body["ExpectedName"] == "Grace Hopper"
    assert received.face_image == FACE
    assert received.photo_id_image == PHOTO_ID


def test_a_failed_submission_can_be_retried(attempt, s3_photos, reviewer):
    attempt.upload_face_image(FACE)
    attempt.upload_photo_id_image(PHOTO_ID)
    attempt.mark_ready()
    reviewer.answer(503, "try later")

    attempt.submit()
    assert reload(attempt).status == "must_retry"
    assert reload(attempt).error_msg == "try later"

    reviewer.answer(200, "OK")
    reload(attempt).submit()

    saved = reload(attempt)
    assert saved.status == "submitted"
    assert [r.photo_id_image for r in reviewer.received] == [PHOTO_ID, PHOTO_ID]


def test_reverification_reuses_the_earlier_photo_id(attempt, s3_photos, reviewer):
    attempt.upload_face_image(FACE)
    attempt.upload_photo_id_image(PHOTO_ID)
    attempt.mark_ready()
    attempt.submit()
    later = SoftwareSecurePhotoVerificationFactory(user=attempt.user)
    later.upload_face_image(b"a newer face")
    later.mark_ready()

    later.submit(copy_id_photo_from=reload(attempt))

    assert reload(later).status == "submitted"
    received = reviewer.received[-1]
    assert received.body["EdX-ID"] == later.receipt_id
    assert received.body["PhotoIDKey"] == attempt.photo_id_key
    assert received.face_image == b"a newer face"
    assert received.photo_id_image == PHOTO_ID
    assert f"photo_id/{later.receipt_id}" not in s3_photos.object_keys()


@pytest.mark.parametrize("method", ["upload_face_image", "upload_photo_id_image"])
@pytest.mark.parametrize("status", ["ready", "submitted", "must_retry", "approved", "denied"])
def test_uploads_are_refused_once_the_attempt_left_created(s3_photos, method, status):
    attempt = SoftwareSecurePhotoVerificationFactory(status=status)

    with pytest.raises(VerificationException):
        getattr(attempt, method)(FACE)

    assert s3_photos.object_keys() == []
    assert reload(attempt).status == status


def test_submit_before_mark_ready_is_refused(attempt, s3_photos, reviewer):
    attempt.upload_face_image(FACE)
    attempt.upload_photo_id_image(PHOTO_ID)

    with pytest.raises(VerificationException):
        attempt.submit()

    assert reload(attempt).status == "created"
    assert reviewer.received == []


def test_automatic_verify_for_testing_needs_no_storage_or_reviewer(settings, attempt, reviewer):
    settings.FEATURES = {**settings.FEATURES, "AUTOMATIC_VERIFY_STUDENT_IDENTITY_FOR_TESTING": True}
    # No S3 at all: the default endpoint is a closed port.

    attempt.upload_face_image(FACE)
    attempt.upload_photo_id_image(PHOTO_ID)
    attempt.mark_ready()
    attempt.submit()

    saved = reload(attempt)
    assert saved.status == "submitted"
    assert saved.photo_id_key == "fake-photo-id-key"
    assert reviewer.received == []
