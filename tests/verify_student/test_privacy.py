"""Account retirement and data export (``verify_student.api``), with photos on moto's S3 server.

After ``retire_user`` no name, image URL, reason or key of the learner is left
in the attempt table or its history table (read back through the ORM and with
raw SQL), no photo is left in the bucket, and the learner's status is "none";
status, dates and decisions stay.
"""

from __future__ import annotations

import json

import pytest
from botocore.config import Config
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.dispatch import Signal
from django.urls import reverse

from tests.factories import (
    SoftwareSecurePhotoVerificationFactory,
    UserFactory,
    VerificationCheckpointFactory,
)
from tests.verify_student.conftest import point_storage_at
from tests.verify_student.test_admin import ADMIN, messages_of, run_action, staff_with
from verify_student import api, handlers
from verify_student.models import (
    PhotoReviewAccess,
    SkippedReverification,
    SoftwareSecurePhotoVerification,
    VerificationStatus,
)
from verify_student.services import IDVerificationService

pytestmark = pytest.mark.django_db

FACE = b"\xff\xd8\xff\xe0 face " + bytes(range(256)) * 4
PHOTO_ID = b"\x89PNG\r\n\x1a\n id " + bytes(range(256)) * 4
LEGAL_NAME = "Ada Augusta King-Noel"
REASON = f"The name on the ID is {LEGAL_NAME}, not the account's."
History = SoftwareSecurePhotoVerification.history.model

#: The host's retirement signal, as a host would define it.
user_retired = Signal()


def attempt_with_photos(user, **kwargs) -> SoftwareSecurePhotoVerification:
    """An attempt whose encrypted photos are on S3, marked submitted (history rows made)."""
    attempt = SoftwareSecurePhotoVerificationFactory(user=user, name=LEGAL_NAME, **kwargs)
    attempt.upload_face_image(FACE)
    attempt.upload_photo_id_image(PHOTO_ID)
    attempt.mark_ready()
    SoftwareSecurePhotoVerification.objects.filter(pk=attempt.pk).update(name=LEGAL_NAME)
    attempt.refresh_from_db()
    attempt.face_image_url = f"https://photos.example.com/face/{attempt.receipt_id}"
    attempt.photo_id_image_url = f"https://photos.example.com/photo_id/{attempt.receipt_id}"
    attempt.save()
    attempt.mark_submitted()
    return attempt


@pytest.fixture
def learner():
    return UserFactory(username="ada", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def history_of_learner(learner, s3_photos):
    """Approved, then a denied re-verification with a reason naming the learner."""
    approved = attempt_with_photos(learner)
    approved.approve(service="SoftwareSecure")
    denied = attempt_with_photos(learner)
    denied.deny(REASON, error_code="staff", reviewing_user=UserFactory(username="reviewer"))
    return [approved, denied]


def raw_rows(table: str, columns: str, user_id: int) -> list[tuple]:
    with connection.cursor() as cursor:
        quoted = connection.ops.quote_name(table)
        cursor.execute(f"SELECT {columns} FROM {quoted} WHERE user_id = %s", [user_id])  # noqa: S608
        return list(cursor.fetchall())


def assert_nothing_personal_left(user) -> None:
    attempts = SoftwareSecurePhotoVerification._meta.db_table
    history = History._meta.db_table
    for row in raw_rows(
        attempts, "name, face_image_url, photo_id_image_url, error_msg, photo_id_key", user.pk
    ):
        assert row == ("", "", "", "", "")
    rows = raw_rows(history, "name, face_image_url, photo_id_image_url, error_msg", user.pk)
    assert rows  # the history is kept...
    for row in rows:
        assert row == ("", "", "", "")  # ...without what identified the learner
    assert not History.objects.filter(user=user).exclude(name="").exists()


# -- retirement ------------------------------------------------------------------------


def test_retirement_erases_names_keys_and_photos_and_keeps_decisions(
    learner, history_of_learner, s3_photos
):
    other = attempt_with_photos(UserFactory(username="grace"))
    before = {
        a.pk: (a.status, a.created_at, a.submitted_at, a.status_changed, a.error_code)
        for a in SoftwareSecurePhotoVerification.objects.filter(user=learner)
    }
    assert len(s3_photos.object_keys()) == 6
    assert raw_rows(History._meta.db_table, "name", learner.pk)[0] == (LEGAL_NAME,)

    api.retire_user(learner)

    assert s3_photos.object_keys() == [f"face/{other.receipt_id}", f"photo_id/{other.receipt_id}"]
    assert_nothing_personal_left(learner)
    after = SoftwareSecurePhotoVerification.objects.filter(user=learner)
    assert {
        a.pk: (a.status, a.created_at, a.submitted_at, a.status_changed, a.error_code)
        for a in after
    } == before
    assert all(a.retired_at and a.photos_deleted_at for a in after)
    assert {a.reviewing_service for a in after} == {"SoftwareSecure", ""}
    # The other learner is untouched.
    other.refresh_from_db()
    assert (other.name, other.retired_at, bool(other.photo_id_key)) == (LEGAL_NAME, None, True)
    assert History.objects.filter(id=other.pk, name=LEGAL_NAME).exists()


def test_a_retired_learner_answers_none(learner, history_of_learner, s3_photos):
    assert IDVerificationService.user_status(learner)["status"] == "approved"

    api.retire_user(learner)

    status = IDVerificationService.user_status(learner)
    assert (status["status"], status["status_date"], status["verification_expiry"]) == (
        "none",
        None,
        None,
    )
    assert not IDVerificationService.user_is_verified(learner)
    assert not IDVerificationService.user_has_valid_or_pending(learner)
    assert IDVerificationService.get_verified_user_ids([learner]) == set()
    assert IDVerificationService.verifications_for_user(learner) == []
    assert IDVerificationService.get_expiration_datetime(learner) is None
    assert SoftwareSecurePhotoVerification.get_initial_verification(learner) is None
    assert IDVerificationService.verification_status_for_user(learner, "verified") == (
        "Not ID Verified"
    )


def test_user_status_stays_one_query_after_retirement(
    learner, history_of_learner, s3_photos, django_assert_num_queries
):
    api.retire_user(learner)
    with django_assert_num_queries(1):
        assert SoftwareSecurePhotoVerification.user_status(learner) == ("none", "")


def test_a_new_verification_after_retirement_counts(learner, history_of_learner, s3_photos):
    api.retire_user(learner)
    fresh = attempt_with_photos(learner)
    fresh.approve(service="SoftwareSecure")
    assert IDVerificationService.user_status(learner)["status"] == "approved"


def test_a_retired_attempt_is_not_sent_for_review(learner, s3_photos, reviewer):
    attempt = SoftwareSecurePhotoVerificationFactory(user=learner)
    attempt.upload_face_image(FACE)
    attempt.upload_photo_id_image(PHOTO_ID)
    attempt.mark_ready()
    api.retire_user(learner)

    with pytest.raises(api.VerificationException, match="retired"):
        attempt.submit()
    assert reviewer.received == []
    attempt.refresh_from_db()
    assert attempt.status == "ready"


def test_checkpoint_free_text_is_cleared_and_statuses_kept(learner, s3_photos):
    checkpoint = VerificationCheckpointFactory()
    VerificationStatus.objects.create(
        checkpoint=checkpoint, user=learner, status="denied", response=REASON, error=REASON
    )
    api.retire_user(learner)
    row = VerificationStatus.objects.get(user=learner)
    assert (row.status, row.response, row.error) == ("denied", None, None)


def test_review_accesses_are_kept_and_name_no_learner(learner, history_of_learner, s3_photos):
    staff = UserFactory(username="photo_staff")
    PhotoReviewAccess.objects.create(attempt=history_of_learner[0], user=staff, image="face")
    api.retire_user(learner)
    access = PhotoReviewAccess.objects.get()
    assert (access.attempt_id, access.user_id) == (history_of_learner[0].pk, staff.pk)


def test_retiring_again_changes_nothing_more(learner, history_of_learner, s3_photos):
    api.retire_user(learner)
    first = list(
        SoftwareSecurePhotoVerification.objects.filter(user=learner).values(
            "retired_at", "photos_deleted_at", "updated_at"
        )
    )
    api.retire_user(learner)
    again = list(
        SoftwareSecurePhotoVerification.objects.filter(user=learner).values(
            "retired_at", "photos_deleted_at", "updated_at"
        )
    )
    assert again == first
    assert s3_photos.object_keys() == []


def test_a_user_without_attempts_retires_quietly(learner, s3_photos):
    api.retire_user(learner)
    assert SoftwareSecurePhotoVerification.objects.count() == 0


def test_a_storage_failure_is_raised_after_the_rest_and_a_rerun_finishes(
    learner, history_of_learner, s3_photos, settings, closed_port
):
    storage_kwargs = dict(settings.VERIFY_STUDENT["SOFTWARE_SECURE"]["STORAGE_KWARGS"])
    point_storage_at(
        settings,
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        client_config=Config(retries={"total_max_attempts": 1}),
    )

    with pytest.raises(api.PhotosNotDeletedError) as failure:
        api.retire_user(learner)

    assert sorted(failure.value.paths) == sorted(
        f"{prefix}/{a.receipt_id}" for a in history_of_learner for prefix in ("face", "photo_id")
    )
    # The database part is done: nothing personal left, status "none"...
    assert_nothing_personal_left(learner)
    assert IDVerificationService.user_status(learner)["status"] == "none"
    # ...but the photos are still stored, and not marked deleted.
    assert len(s3_photos.object_keys()) == 4
    assert not SoftwareSecurePhotoVerification.objects.filter(
        photos_deleted_at__isnull=False
    ).exists()

    point_storage_at(settings, **storage_kwargs)
    api.retire_user(learner)

    assert s3_photos.object_keys() == []
    assert not SoftwareSecurePhotoVerification.objects.filter(
        photos_deleted_at__isnull=True
    ).exists()


# -- the host's retirement signal --------------------------------------------------------


def with_retirement_signal(settings, path) -> None:
    settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "RETIREMENT_SIGNAL": path}


def test_the_configured_signal_retires_the_learner(
    learner, history_of_learner, s3_photos, settings
):
    with_retirement_signal(settings, f"{__name__}.user_retired")

    user_retired.send(sender=None, user=learner)

    assert s3_photos.object_keys() == []
    assert_nothing_personal_left(learner)


def test_the_signal_without_a_user_is_an_error(settings):
    with_retirement_signal(settings, f"{__name__}.user_retired")
    with pytest.raises(TypeError, match="user="):
        user_retired.send(sender=None)


def test_nothing_is_connected_by_default(settings):
    assert not user_retired.has_listeners()
    with_retirement_signal(settings, f"{__name__}.user_retired")
    assert user_retired.has_listeners()
    with_retirement_signal(settings, None)
    assert not user_retired.has_listeners()


@pytest.mark.parametrize(
    ("path", "message"),
    [(f"{__name__}.LEGAL_NAME", "not a django.dispatch.Signal"), ("no.such", "cannot be imported")],
)
def test_a_setting_that_is_not_a_signal_is_refused(settings, path, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        with_retirement_signal(settings, path)
    assert not user_retired.has_listeners()
    assert handlers._retirement_signal is None


# -- export ------------------------------------------------------------------------------


def test_the_export_lists_records_without_keys_urls_or_images(
    learner, history_of_learner, s3_photos
):
    checkpoint = VerificationCheckpointFactory()
    VerificationStatus.add_verification_status(checkpoint, learner, "submitted")
    SkippedReverification.add_skipped_reverification_attempt(
        checkpoint, learner.pk, checkpoint.course_id
    )
    PhotoReviewAccess.objects.create(
        attempt=history_of_learner[1], user=UserFactory(username="viewer"), image="face"
    )

    export = api.export_user_verification_data(learner)

    text = json.dumps(export)  # JSON-serialisable as it is
    approved, denied = history_of_learner
    assert export["user_id"] == learner.pk
    assert [a["receipt_id"] for a in export["photo_verifications"]] == [
        approved.receipt_id,
        denied.receipt_id,
    ]
    record = export["photo_verifications"][1]
    assert record["status"] == "denied"
    assert record["name"] == LEGAL_NAME
    assert record["reason"] == REASON
    assert record["error_code"] == "staff"
    assert record["submitted_at"] and record["status_changed"] and record["created_at"]
    (view,) = export["photo_views"]
    assert (view["receipt_id"], view["image"]) == (denied.receipt_id, "face")
    assert "viewer" not in text  # who viewed is staff data, not the learner's
    assert export["checkpoint_statuses"][0]["status"] == "submitted"
    assert export["skipped_reverifications"][0]["course_id"] == str(checkpoint.course_id)
    for attempt in history_of_learner:
        attempt.refresh_from_db()
        assert attempt.photo_id_key and attempt.photo_id_key.strip()[:40] not in text
        assert attempt.face_image_url not in text
    assert "photos.example.com" not in text
    assert "photo_id_key" not in text and "image_url" not in text


def test_the_export_of_a_retired_learner_shows_no_name(learner, history_of_learner, s3_photos):
    api.retire_user(learner)
    export = api.export_user_verification_data(learner)
    assert LEGAL_NAME not in json.dumps(export)
    assert all(a["retired_at"] and a["photos_deleted_at"] for a in export["photo_verifications"])


EXPORT_PERMS = ("view_softwaresecurephotoverification", "export_verification_data")


def test_the_admin_action_downloads_the_export(client, learner, history_of_learner, s3_photos):
    client.force_login(staff_with(*EXPORT_PERMS, username="dpo"))

    response = run_action(client, "export_verification_data", history_of_learner)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith(
        'attachment; filename="verification-data-ada-'
    )
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    (export,) = json.loads(response.content)["learners"]
    assert export == {
        **api.export_user_verification_data(learner),
        "exported_at": export["exported_at"],
    }


def test_the_admin_action_exports_each_learner_once(client, history_of_learner, s3_photos):
    other = attempt_with_photos(UserFactory(username="grace"))
    client.force_login(staff_with(*EXPORT_PERMS, username="dpo"))

    response = run_action(client, "export_verification_data", [*history_of_learner, other])

    learners = json.loads(response.content)["learners"]
    assert sorted(e["username"] for e in learners) == ["ada", "grace"]
    assert response["Content-Disposition"].startswith('attachment; filename="verification-data-')


def test_the_export_action_needs_the_permission(client, history_of_learner, s3_photos):
    client.force_login(
        staff_with(
            "view_softwaresecurephotoverification",
            "change_softwaresecurephotoverification",
            "review_photos",
            username="reviewer_only",
        )
    )
    changelist = client.get(reverse(f"{ADMIN}_changelist"))
    assert "export_verification_data" not in changelist.text

    response = run_action(client, "export_verification_data", history_of_learner)

    assert not response["Content-Type"].startswith("application/json")
    assert any("No action selected" in m for m in messages_of(response))


def test_the_export_action_is_offered_with_the_permission(client, history_of_learner, s3_photos):
    client.force_login(staff_with(*EXPORT_PERMS, username="dpo"))
    changelist = client.get(reverse(f"{ADMIN}_changelist"))
    assert "export_verification_data" in changelist.text
