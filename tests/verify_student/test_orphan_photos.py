"""``delete_orphan_verification_photos``: stored photos no attempt needs, on moto's S3 and on disk.

S3 keeps its own LastModified, so on S3 "old" is reached by asking for photos
stored before a moment in the future (``api.orphan_photos``); the command's
own age rule is run on a file system storage, whose file times can be set.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from io import StringIO

import pytest
from botocore.config import Config
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.factories import SoftwareSecurePhotoVerificationFactory, UserFactory
from tests.verify_student.conftest import point_storage_at
from tests.verify_student.test_delete_expired_photos import decided, stored_attempt
from verify_student import api, storage
from verify_student.exceptions import PhotoStorageError
from verify_student.models import SoftwareSecurePhotoVerification as Attempt

pytestmark = pytest.mark.django_db

COMMAND = "delete_orphan_verification_photos"
CIPHERTEXT = b"c2VhbGVk"  # what is stored is base64 text; its content does not matter here


def later() -> datetime:
    """A moment after every photo of the test was stored."""
    return timezone.now() + timedelta(hours=1)


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(COMMAND, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


# -- what counts as an orphan (S3) -----------------------------------------------------


def test_photos_of_attempts_that_need_them_are_not_orphans(s3_photos):
    pending = stored_attempt()
    approved = decided("approved", days_ago=1)
    assert api.orphan_photos(later()) == []
    assert f"face/{pending.receipt_id}" in s3_photos.object_keys()
    assert f"photo_id/{approved.receipt_id}" in s3_photos.object_keys()


def test_photos_without_an_attempt_are_orphans(s3_photos):
    kept = stored_attempt()
    s3_photos.put("face/left-by-a-failed-submission", CIPHERTEXT)
    s3_photos.put("photo_id/left-by-a-failed-submission", CIPHERTEXT)
    assert sorted(api.orphan_photos(later())) == [
        "face/left-by-a-failed-submission",
        "photo_id/left-by-a-failed-submission",
    ]
    assert f"face/{kept.receipt_id}" in s3_photos.object_keys()


def test_photos_of_attempts_deleted_with_their_user_are_orphans(s3_photos):
    learner = UserFactory()
    attempt = stored_attempt(learner)
    learner.delete()  # the cascade removes the attempt, not its photos
    assert not Attempt.objects.filter(receipt_id=attempt.receipt_id).exists()
    assert sorted(api.orphan_photos(later())) == [
        f"face/{attempt.receipt_id}",
        f"photo_id/{attempt.receipt_id}",
    ]


def test_photos_left_after_a_deletion_on_purpose_or_a_retirement_are_orphans(s3_photos):
    deleted = stored_attempt()
    retired = stored_attempt()
    Attempt.objects.filter(pk=deleted.pk).update(photos_deleted_at=timezone.now())
    Attempt.objects.filter(pk=retired.pk).update(retired_at=timezone.now())
    assert len(api.orphan_photos(later())) == 4


def test_recent_photos_are_never_orphans(s3_photos):
    s3_photos.put("face/a-submission-in-progress", CIPHERTEXT)
    assert api.orphan_photos(timezone.now() - timedelta(hours=24)) == []


def test_objects_outside_the_photo_folders_are_not_looked_at(s3_photos):
    s3_photos.put("exports/report.csv", b"a,b")
    s3_photos.put("face-backup/x", CIPHERTEXT)
    assert api.orphan_photos(later()) == []


def test_a_photo_an_attempt_needs_again_is_not_deleted(s3_photos):
    s3_photos.put("face/claimed-meanwhile", CIPHERTEXT)
    [orphan] = api.orphan_photos(later())
    SoftwareSecurePhotoVerificationFactory(receipt_id="claimed-meanwhile")
    assert api.delete_orphan_photo(orphan) is False
    assert "face/claimed-meanwhile" in s3_photos.object_keys()


def test_an_unreachable_storage_is_a_clear_command_error(settings, closed_port):
    point_storage_at(
        settings,
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        client_config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(CommandError, match="could not be listed"):
        run()


# -- the command (file system storage, whose file times can be set) ---------------------


@pytest.fixture
def disk(settings, tmp_path):
    config = {
        **settings.VERIFY_STUDENT,
        "SOFTWARE_SECURE": {
            **settings.VERIFY_STUDENT["SOFTWARE_SECURE"],
            "STORAGE_CLASS": "django.core.files.storage.FileSystemStorage",
            "STORAGE_KWARGS": {"location": str(tmp_path)},
        },
    }
    settings.VERIFY_STUDENT = config
    return tmp_path


def store(path: str, hours_ago: float) -> None:
    storage.save_photo(path, CIPHERTEXT)
    when = time.time() - hours_ago * 3600
    os.utime(storage.get_storage().path(path), (when, when))


def stored(disk) -> list[str]:
    return sorted(
        f"{folder}/{name}"
        for folder in ("face", "photo_id")
        if (disk / folder).is_dir()
        for name in os.listdir(disk / folder)
    )


def test_the_command_deletes_old_orphans_and_keeps_the_rest(disk):
    needed = SoftwareSecurePhotoVerificationFactory(receipt_id="needed")
    store(f"face/{needed.receipt_id}", hours_ago=48)
    store("face/old-orphan", hours_ago=48)
    store("photo_id/old-orphan", hours_ago=25)
    store("face/new-orphan", hours_ago=2)

    out, err = run("--batch-size", "1")

    assert stored(disk) == ["face/needed", "face/new-orphan"]
    assert "2 stored photo(s) older than 24 hour(s)" in out
    assert "batch 2/2: 2/2" in out
    assert "Done: 2 photo(s) deleted, 0 kept (an attempt needs them now), 0 failed." in out
    assert err == ""
    assert run()[0].startswith("0 stored photo(s)")  # a second run has nothing to do


def test_the_age_follows_the_option(disk):
    store("face/orphan", hours_ago=3)
    run("--older-than-hours", "4")
    assert stored(disk) == ["face/orphan"]
    run("--older-than-hours", "2")
    assert stored(disk) == []


def test_a_dry_run_lists_and_changes_nothing(disk):
    store("face/orphan", hours_ago=48)
    out, _ = run("--dry-run")
    assert "  face/orphan" in out
    assert "Dry run: 1 photo(s) would have been deleted. Nothing was changed." in out
    assert stored(disk) == ["face/orphan"]


def test_an_empty_storage_is_fine(disk):
    out, _ = run()
    assert out.startswith("0 stored photo(s)")


@pytest.mark.parametrize("hours", ["0", "-1"])
def test_an_age_under_an_hour_is_refused(disk, hours):
    store("face/orphan", hours_ago=48)
    with pytest.raises(CommandError, match="--older-than-hours must be a whole number"):
        run("--older-than-hours", hours)
    assert stored(disk) == ["face/orphan"]


def test_a_failed_deletion_fails_the_run_and_a_rerun_finishes(disk, monkeypatch):
    store("face/orphan-1", hours_ago=48)
    store("face/orphan-2", hours_ago=48)
    real_delete = storage.delete_photo

    def delete(path):
        if path == "face/orphan-1":
            raise PhotoStorageError(f"Could not delete photo {path}: OSError")
        real_delete(path)

    monkeypatch.setattr(storage, "delete_photo", delete)
    with pytest.raises(CommandError, match=r"1 photo\(s\) deleted, 0 kept .* 1 failed"):
        run()
    assert stored(disk) == ["face/orphan-1"]

    monkeypatch.setattr(storage, "delete_photo", real_delete)
    run()
    assert stored(disk) == []
