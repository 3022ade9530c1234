"""``delete_expired_verification_photos``: retention of decided attempts' photos on moto's S3.

Decided attempts keep their photos ``PHOTO_RETENTION_DAYS`` after the decision;
then the command deletes them, blanks the sealed key and marks the attempt,
and the admin says they were deleted on purpose. Time is moved by writing
``status_changed`` (the decision's time), never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from botocore.config import Config
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.factories import SoftwareSecurePhotoVerificationFactory, UserFactory
from tests.verify_student.conftest import point_storage_at
from tests.verify_student.test_admin import review_url, staff_with
from verify_student import api
from verify_student.models import PhotoReviewAccess, SoftwareSecurePhotoVerification

pytestmark = pytest.mark.django_db

FACE = b"\xff\xd8\xff\xe0 face " + bytes(range(256)) * 4
PHOTO_ID = b"\x89PNG\r\n\x1a\n id " + bytes(range(256)) * 4
COMMAND = "delete_expired_verification_photos"


def stored_attempt(user=None, *, photo_id: bool = True, **kwargs):
    """A submitted attempt with its encrypted photos on S3."""
    attempt = SoftwareSecurePhotoVerificationFactory(user=user or UserFactory(), **kwargs)
    attempt.upload_face_image(FACE)
    if photo_id:
        attempt.upload_photo_id_image(PHOTO_ID)
    attempt.mark_ready()
    attempt.mark_submitted()
    return attempt


def decided(decision: str, days_ago: float, user=None, **kwargs):
    attempt = stored_attempt(user, **kwargs)
    if decision == "approved":
        attempt.approve(service="SoftwareSecure")
    elif decision == "denied":
        attempt.deny("[]", reviewing_service="SoftwareSecure")
    else:
        assert decision == "submitted"
    at_age(attempt, days_ago)
    return attempt


def at_age(attempt, days_ago: float) -> None:
    SoftwareSecurePhotoVerification.objects.filter(pk=attempt.pk).update(
        status_changed=timezone.now() - timedelta(days=days_ago)
    )


def keys_of(attempt) -> list[str]:
    return [f"face/{attempt.receipt_id}", f"photo_id/{attempt.receipt_id}"]


def run(*args: str) -> str:
    out = StringIO()
    call_command(COMMAND, *args, "--sleep-time=0", stdout=out, stderr=StringIO())
    return out.getvalue()


def reload(attempt):
    return SoftwareSecurePhotoVerification.objects.get(pk=attempt.pk)


def test_decided_attempts_past_the_window_lose_their_photos(s3_photos):
    approved = decided("approved", 31)
    denied = decided("denied", 45)
    recent = decided("approved", 29)

    output = run()

    assert s3_photos.object_keys() == keys_of(recent)
    for attempt in (approved, denied):
        attempt = reload(attempt)
        assert attempt.photo_id_key == ""
        assert attempt.photos_deleted_at is not None
        assert attempt.retired_at is None
        assert attempt.name  # retention deletes photos, not the record
    assert reload(recent).photo_id_key and reload(recent).photos_deleted_at is None
    assert "2 decided attempt(s) with photos older than 30 day(s)." in output
    assert "batch 1/1: 2/2" in output
    assert "Done: 2 attempt(s) had their photos deleted, 0 kept" in output


def test_the_decision_keeps_its_status_and_dates(s3_photos):
    attempt = decided("approved", 40)
    before = reload(attempt)
    run()
    after = reload(attempt)
    fields = ("status", "status_changed", "updated_at", "created_at", "submitted_at")
    assert [getattr(after, f) for f in fields] == [getattr(before, f) for f in fields]
    # The learner stays verified: the decision counts, the photos are no longer needed.
    assert api.IDVerificationService.user_status(attempt.user)["status"] == "approved"


def test_pending_attempts_are_never_touched(s3_photos):
    pending = [decided("submitted", 400)]
    ready = SoftwareSecurePhotoVerificationFactory()
    ready.upload_face_image(FACE)
    ready.upload_photo_id_image(PHOTO_ID)
    ready.mark_ready()
    at_age(ready, 400)
    must_retry = stored_attempt()
    must_retry.mark_must_retry("reviewer unavailable")
    at_age(must_retry, 400)
    pending += [ready, must_retry]
    keys = s3_photos.object_keys()

    output = run()

    assert s3_photos.object_keys() == keys
    assert all(reload(a).photos_deleted_at is None and reload(a).photo_id_key for a in pending)
    assert "0 decided attempt(s)" in output


def test_the_window_follows_the_setting(s3_photos, settings):
    attempt = decided("denied", 3)
    settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "PHOTO_RETENTION_DAYS": 7}
    run()
    assert s3_photos.object_keys() == keys_of(attempt)
    settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "PHOTO_RETENTION_DAYS": 2}
    run()
    assert s3_photos.object_keys() == []


@pytest.mark.parametrize("value", [-1, "30", 2.5, True])
def test_a_malformed_retention_setting_is_refused(settings, value):
    settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "PHOTO_RETENTION_DAYS": value}
    with pytest.raises(ImproperlyConfigured, match="PHOTO_RETENTION_DAYS"):
        run()


def test_an_id_photo_lent_to_a_pending_reverification_is_kept(s3_photos):
    learner = UserFactory()
    initial = decided("approved", 60, user=learner)
    reverification = stored_attempt(learner, photo_id=False, copy_id_photo_from=initial)
    keys = s3_photos.object_keys()

    output = run()

    assert s3_photos.object_keys() == keys
    assert reload(initial).photo_id_key
    assert "0 attempt(s) had their photos deleted, 1 kept for a pending re-verification" in output

    reverification.approve(service="SoftwareSecure")
    run()

    # The initial attempt's photos go; the re-verification (decided today) keeps its face.
    assert s3_photos.object_keys() == [f"face/{reverification.receipt_id}"]
    assert reload(initial).photos_deleted_at is not None


def test_a_dry_run_changes_nothing(s3_photos):
    attempts = [decided("approved", 31), decided("denied", 90)]
    lender = decided("approved", 90)
    stored_attempt(lender.user, photo_id=False, copy_id_photo_from=lender)
    keys = s3_photos.object_keys()
    before = list(SoftwareSecurePhotoVerification.objects.values().order_by("pk"))

    output = run("--dry-run")

    assert s3_photos.object_keys() == keys
    assert list(SoftwareSecurePhotoVerification.objects.values().order_by("pk")) == before
    assert f"{len(attempts) + 1} decided attempt(s)" in output
    assert "Dry run: 2 attempt(s) would have their photos deleted, 1 kept" in output
    assert "Nothing was changed." in output


def test_batches_and_reruns(s3_photos):
    attempts = [decided("approved", 31 + n) for n in range(5)]

    output = run("--batch-size=2")

    assert [line for line in output.splitlines() if line.startswith("batch")] == [
        "batch 1/3: 2/5",
        "batch 2/3: 4/5",
        "batch 3/3: 5/5",
    ]
    assert s3_photos.object_keys() == []
    marks = [reload(a).photos_deleted_at for a in attempts]

    again = run("--batch-size=2")

    assert "0 decided attempt(s)" in again
    assert [reload(a).photos_deleted_at for a in attempts] == marks


def test_photos_already_gone_from_storage_are_handled(s3_photos):
    attempt = decided("approved", 31)
    for key in keys_of(attempt):
        s3_photos.client.delete_object(Bucket=s3_photos.bucket, Key=key)

    output = run()

    assert reload(attempt).photos_deleted_at is not None
    assert "1 attempt(s) had their photos deleted" in output


def test_a_storage_outage_fails_the_run_and_a_rerun_finishes(s3_photos, settings, closed_port):
    attempt = decided("approved", 31)
    storage_kwargs = dict(settings.VERIFY_STUDENT["SOFTWARE_SECURE"]["STORAGE_KWARGS"])
    point_storage_at(
        settings,
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        client_config=Config(retries={"total_max_attempts": 1}),
    )
    err = StringIO()

    with pytest.raises(CommandError, match="1 failed"):
        call_command(COMMAND, stdout=StringIO(), stderr=err)

    assert f"attempt {attempt.pk}: Could not delete photo face/{attempt.receipt_id}" in (
        err.getvalue()
    )
    assert reload(attempt).photos_deleted_at is None
    assert reload(attempt).photo_id_key
    assert s3_photos.object_keys() == keys_of(attempt)

    point_storage_at(settings, **storage_kwargs)
    run()
    assert s3_photos.object_keys() == []


def test_an_attempt_decided_again_meanwhile_is_skipped(s3_photos):
    attempt = decided("approved", 31)
    now = timezone.now()
    attempt.deny("[]", reviewing_service="staff")  # status_changed is now: window restarts
    assert api.delete_expired_photos(attempt.pk, now) == "skipped"
    assert s3_photos.object_keys() == keys_of(attempt)


def test_bad_batch_options_are_refused(db):
    with pytest.raises(CommandError, match="--batch-size"):
        call_command(COMMAND, "--batch-size=0", stdout=StringIO())


# -- the admin says the photos were deleted on purpose -------------------------------------


def test_the_review_page_says_when_the_photos_were_deleted(client, s3_photos):
    attempt = decided("approved", 31)
    run()
    client.force_login(
        staff_with(
            "view_softwaresecurephotoverification",
            "change_softwaresecurephotoverification",
            "review_photos",
        )
    )

    page = client.get(review_url(attempt))
    image = client.get(review_url(attempt, "face"))
    change = client.get(
        f"/admin/verify_student/softwaresecurephotoverification/{attempt.pk}/change/"
    )

    assert "Photos deleted on" in page.text
    assert "retention period over" in page.text
    assert "could not be read from storage" not in page.text
    assert image.status_code == 404
    assert "Photos deleted on" in image.text
    assert "Photos deleted on" in change.text
    assert PhotoReviewAccess.objects.count() == 0


def test_after_retirement_the_admin_names_the_reason(client, s3_photos):
    attempt = decided("approved", 1)
    api.retire_user(attempt.user)
    client.force_login(
        staff_with("view_softwaresecurephotoverification", "review_photos", username="viewer")
    )
    page = client.get(review_url(attempt))
    assert "Photos deleted on" in page.text and "account retirement" in page.text
