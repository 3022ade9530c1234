"""Staff review in the admin, through Django's test client, with photos on moto's S3 server.

Actions and the review page go through ``api.review_attempt`` / ``api.resubmit``;
the review page decrypts photos in memory and logs every image it serves.
"""

from __future__ import annotations

import copy

import pytest
from botocore.config import Config
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from tests.factories import (
    SoftwareSecurePhotoVerificationFactory,
    StaffFactory,
    UserFactory,
    VerificationCheckpointFactory,
    VerificationDeadlineFactory,
)
from tests.verify_student.conftest import point_storage_at
from verify_student.models import (
    PhotoReviewAccess,
    SkippedReverification,
    SoftwareSecurePhotoVerification,
    VerificationStatus,
)

pytestmark = pytest.mark.django_db

FACE = b"\xff\xd8\xff\xe0 face " + bytes(range(256)) * 8
PHOTO_ID = b"\x89PNG\r\n\x1a\n id " + bytes(range(256)) * 8
ADMIN = "admin:verify_student_softwaresecurephotoverification"


def staff_with(*codenames: str, username: str | None = None):
    user = StaffFactory(**({"username": username} if username else {}))
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="verify_student", codename__in=codenames)
    )
    return user


ATTEMPT_PERMS = (
    "view_softwaresecurephotoverification",
    "change_softwaresecurephotoverification",
)


@pytest.fixture
def review_staff(client):
    user = staff_with(*ATTEMPT_PERMS, "review_photos", username="photo_reviewer")
    client.force_login(user)
    return user


@pytest.fixture
def plain_staff():
    return staff_with(*ATTEMPT_PERMS, username="plain_staff")


def submitted_attempt(**kwargs) -> SoftwareSecurePhotoVerification:
    """An attempt with both photos encrypted on S3, marked submitted."""
    attempt = SoftwareSecurePhotoVerificationFactory(**kwargs)
    attempt.upload_face_image(FACE)
    attempt.upload_photo_id_image(PHOTO_ID)
    attempt.mark_ready()
    attempt.mark_submitted()
    return attempt


def reload(attempt) -> SoftwareSecurePhotoVerification:
    return SoftwareSecurePhotoVerification.objects.get(pk=attempt.pk)


def run_action(client, action: str, attempts, **extra):
    data = {"action": action, "_selected_action": [a.pk for a in attempts], **extra}
    return client.post(reverse(f"{ADMIN}_changelist"), data, follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)] or [
        str(message) for message in response.context["messages"]
    ]


def review_url(attempt, image: str | None = None) -> str:
    if image is None:
        return reverse(f"{ADMIN}_review", args=[attempt.pk])
    return reverse(f"{ADMIN}_review_image", args=[attempt.pk, image])


def without_review_key(settings) -> None:
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    config["RSA_PRIVATE_KEY_FOR_REVIEW"] = None
    settings.VERIFY_STUDENT = config


# -- the list ------------------------------------------------------------------------


def test_list_filters_and_search_render(client, review_staff):
    # Receipt ids are random hex: the searched name holds letters hex never has,
    # so no other attempt's receipt id can match it.
    wanted = SoftwareSecurePhotoVerificationFactory(
        status="submitted",
        user=UserFactory(username="grace_hopper", email="grace.hopper@example.org"),
    )
    other = SoftwareSecurePhotoVerificationFactory(status="created")
    url = reverse(f"{ADMIN}_changelist")

    page = client.get(url)
    assert page.status_code == 200
    assert wanted.receipt_id in page.text and other.receipt_id in page.text
    assert review_url(wanted) in page.text  # the Review column, for reviewers

    for query in (
        {"status__exact": "submitted"},
        {"q": wanted.receipt_id},
        {"q": "hopper"},
        {"q": "grace.hopper@example.org"},
    ):
        filtered = client.get(url, query)
        assert filtered.status_code == 200, query
        assert wanted.receipt_id in filtered.text, query
        assert other.receipt_id not in filtered.text, query

    for field in ("created_at", "submitted_at", "updated_at"):
        dated = client.get(
            url,
            {
                f"{field}__gte": "2000-01-01 00:00:00+00:00",
                f"{field}__lt": "2999-01-01 00:00:00+00:00",
            },
        )
        assert dated.status_code == 200, field


def test_staff_without_review_permission_sees_no_review_links(client, plain_staff):
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    client.force_login(plain_staff)

    page = client.get(reverse(f"{ADMIN}_changelist"))
    change = client.get(reverse(f"{ADMIN}_change", args=[attempt.pk]))

    assert page.status_code == change.status_code == 200
    assert review_url(attempt) not in page.text
    assert review_url(attempt) not in change.text


# -- the change form -----------------------------------------------------------------


def test_status_cannot_be_edited_by_hand(client, review_staff, s3_photos):
    attempt = submitted_attempt()
    url = reverse(f"{ADMIN}_change", args=[attempt.pk])

    page = client.get(url)
    assert page.status_code == 200
    assert 'name="status"' not in page.text
    assert review_url(attempt) in page.text  # "Review photos" in the object tools

    response = client.post(
        url,
        {"name": "Ada King", "status": "approved", "reviewing_user": review_staff.pk},
    )

    assert response.status_code == 302
    saved = reload(attempt)
    assert saved.name == "Ada King"
    assert saved.status == "submitted"
    assert saved.reviewing_user is None


def test_only_an_attempt_of_the_same_learner_can_lend_its_photo_id(client, review_staff, s3_photos):
    attempt = submitted_attempt()
    same_learner = submitted_attempt(user=attempt.user)
    someone_else = submitted_attempt()
    url = reverse(f"{ADMIN}_change", args=[attempt.pk])

    for refused in (someone_else, attempt):
        page = client.post(url, {"name": attempt.name, "copy_id_photo_from": refused.pk})
        assert page.status_code == 200
        assert "Choose another attempt of the same learner." in page.text
    assert reload(attempt).copy_id_photo_from is None

    response = client.post(url, {"name": attempt.name, "copy_id_photo_from": same_learner.pk})
    assert response.status_code == 302
    assert reload(attempt).copy_id_photo_from == same_learner


def test_the_add_page_is_refused(client, review_staff):
    assert client.get(reverse(f"{ADMIN}_add")).status_code == 403


def test_reverting_to_an_older_version_is_refused(client, review_staff, s3_photos):
    attempt = submitted_attempt()
    first = attempt.history.order_by("history_date").first()
    client.post(review_url(attempt), {"decision": "approve"})
    url = reverse(f"{ADMIN}_simple_history", args=[attempt.pk, first.history_id])

    assert client.get(url).status_code == 200
    assert client.post(url, {"name": attempt.name}).status_code == 403
    assert reload(attempt).status == "approved"


def test_the_sealed_photo_id_key_is_in_no_admin_page(client, review_staff, s3_photos):
    attempt = submitted_attempt()
    client.post(review_url(attempt), {"decision": "deny", "reason": "blurry"})
    key_text = reload(attempt).photo_id_key
    assert key_text
    version = attempt.history.order_by("history_date").first()
    pages = [
        reverse(f"{ADMIN}_changelist"),
        reverse(f"{ADMIN}_changelist") + f"?q={attempt.receipt_id}",
        reverse(f"{ADMIN}_change", args=[attempt.pk]),
        reverse(f"{ADMIN}_history", args=[attempt.pk]),
        reverse(f"{ADMIN}_simple_history", args=[attempt.pk, version.history_id]),
        review_url(attempt),
    ]

    for url in pages:
        page = client.get(url)
        assert page.status_code == 200, url
        assert "photo_id_key" not in page.text, url
        for line in key_text.splitlines():
            assert line not in page.text, url


# -- actions -------------------------------------------------------------------------


def test_approve_action_reports_each_row_and_refuses_a_created_attempt(
    client, review_staff, s3_photos
):
    first, second = submitted_attempt(), submitted_attempt()
    created = SoftwareSecurePhotoVerificationFactory(status="created")

    response = run_action(client, "approve_attempts", [first, second, created])

    assert response.status_code == 200
    shown = messages_of(response)
    assert "2 attempts approved." in shown
    refused = [m for m in shown if f"Attempt {created.pk} " in m]
    assert len(refused) == 1
    assert "not approved" in refused[0] and "'created'" in refused[0]
    for attempt in (first, second):
        saved = reload(attempt)
        assert saved.status == "approved"
        assert saved.reviewing_user == review_staff
        assert saved.history.first().history_user == review_staff
    untouched = reload(created)
    assert (untouched.status, untouched.reviewing_user, untouched.updated_at) == (
        "created",
        None,
        created.updated_at,
    )


def test_approving_an_approved_attempt_is_reported_unchanged(client, review_staff, s3_photos):
    attempt = submitted_attempt()
    run_action(client, "approve_attempts", [attempt])

    response = run_action(client, "approve_attempts", [attempt])

    assert messages_of(response) == [f"Left unchanged (already approved): {attempt.pk}."]


def test_deny_action_asks_for_a_reason_first(client, review_staff, s3_photos):
    attempt = submitted_attempt()
    created = SoftwareSecurePhotoVerificationFactory(status="created")

    form = run_action(client, "deny_attempts", [attempt, created])
    assert form.status_code == 200
    assert 'name="reason"' in form.text
    assert reload(attempt).status == "submitted"

    empty = run_action(client, "deny_attempts", [attempt, created], apply="yes", reason="  ")
    assert empty.status_code == 200
    assert "errornote" in empty.text
    assert reload(attempt).status == "submitted"

    done = run_action(
        client, "deny_attempts", [attempt, created], apply="yes", reason="ID photo is blurry"
    )
    shown = messages_of(done)
    assert "1 attempt denied." in shown
    assert any(f"Attempt {created.pk} " in m and "not denied" in m for m in shown)
    saved = reload(attempt)
    assert (saved.status, saved.error_msg, saved.reviewing_user) == (
        "denied",
        "ID photo is blurry",
        review_staff,
    )
    assert reload(created).status == "created"


def test_retry_action_moves_submitted_to_must_retry_and_leaves_decided_alone(
    client, review_staff, s3_photos
):
    pending, decided = submitted_attempt(), submitted_attempt()
    decided.approve()

    response = run_action(client, "retry_attempts", [pending, decided])

    shown = messages_of(response)
    assert "1 attempt marked for retry." in shown
    assert any(m.startswith("Left unchanged") and str(decided.pk) in m for m in shown)
    assert reload(pending).status == "must_retry"
    assert reload(pending).reviewing_user == review_staff
    assert reload(decided).status == "approved"


def test_resubmit_action_sends_to_the_reviewer_on_commit(
    client, review_staff, s3_photos, reviewer, django_capture_on_commit_callbacks
):
    attempt = submitted_attempt()
    attempt.system_error("reviewer was down")
    created = SoftwareSecurePhotoVerificationFactory(status="created")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = run_action(client, "resubmit_attempts", [attempt, created])

    shown = messages_of(response)
    assert "1 attempt queued for resubmission." in shown
    assert any(f"Attempt {created.pk} " in m and "resubmitted" in m for m in shown)
    assert len(callbacks) == 1
    assert [r.body["EdX-ID"] for r in reviewer.received] == [attempt.receipt_id]
    assert reviewer.received[0].face_image == FACE
    assert reload(attempt).status == "submitted"
    assert reload(created).status == "created"


# -- the review page -----------------------------------------------------------------


def test_review_page_serves_the_decrypted_photos_uncached_and_logs_each_view(
    client, review_staff, s3_photos
):
    attempt = submitted_attempt()

    page = client.get(review_url(attempt))
    assert page.status_code == 200
    assert review_url(attempt, "face") in page.text
    assert review_url(attempt, "photo_id") in page.text
    assert PhotoReviewAccess.objects.count() == 0  # the page alone shows no image

    face = client.get(review_url(attempt, "face"))
    photo_id = client.get(review_url(attempt, "photo_id"))

    assert face.status_code == photo_id.status_code == 200
    assert face.content == FACE and face["Content-Type"] == "image/jpeg"
    assert photo_id.content == PHOTO_ID and photo_id["Content-Type"] == "image/png"
    for response in (face, photo_id):
        assert "no-store" in response["Cache-Control"]
    accesses = list(
        PhotoReviewAccess.objects.order_by("pk").values_list("user", "image", "attempt")
    )
    assert accesses == [
        (review_staff.pk, "face", attempt.pk),
        (review_staff.pk, "photo_id", attempt.pk),
    ]
    assert review_staff.username in client.get(review_url(attempt)).text


def test_photo_id_is_shown_only_with_the_review_key(client, review_staff, s3_photos, settings):
    attempt = submitted_attempt()
    without_review_key(settings)

    page = client.get(review_url(attempt))
    refused = client.get(review_url(attempt, "photo_id"))

    assert page.status_code == 200
    assert review_url(attempt, "face") in page.text
    assert review_url(attempt, "photo_id") not in page.text
    assert "RSA_PRIVATE_KEY_FOR_REVIEW" in page.text
    assert refused.status_code == 404
    assert PHOTO_ID not in refused.content
    assert "no-store" in refused["Cache-Control"]
    assert not PhotoReviewAccess.objects.filter(image="photo_id").exists()


def test_a_re_verification_shows_the_photo_id_of_the_initial_attempt(
    client, review_staff, s3_photos
):
    initial = submitted_attempt()
    again = SoftwareSecurePhotoVerificationFactory(user=initial.user, copy_id_photo_from=initial)
    again.upload_face_image(FACE)

    response = client.get(review_url(again, "photo_id"))

    assert response.status_code == 200
    assert response.content == PHOTO_ID


def test_staff_without_the_permission_get_403(client, plain_staff, s3_photos):
    attempt = submitted_attempt()
    client.force_login(plain_staff)

    for url in (review_url(attempt), review_url(attempt, "face"), review_url(attempt, "photo_id")):
        assert client.get(url).status_code == 403, url
    assert client.post(review_url(attempt), {"decision": "approve"}).status_code == 403
    assert reload(attempt).status == "submitted"
    assert PhotoReviewAccess.objects.count() == 0


def test_non_staff_and_anonymous_are_sent_to_the_admin_login(client, s3_photos):
    attempt = submitted_attempt()
    learner = UserFactory()
    learner.user_permissions.add(Permission.objects.get(codename="review_photos"))

    for who in (None, learner):
        if who is not None:
            client.force_login(who)
        for url in (review_url(attempt), review_url(attempt, "face")):
            response = client.get(url)
            assert response.status_code == 302, (who, url)
            assert response["Location"].startswith(reverse("admin:login"))
    assert PhotoReviewAccess.objects.count() == 0


def test_an_unknown_attempt_or_image_is_404(client, review_staff, s3_photos):
    attempt = submitted_attempt()

    assert client.get(reverse(f"{ADMIN}_review", args=[10**9])).status_code == 404
    assert client.get(review_url(attempt, "selfie")).status_code == 404


def test_approving_from_the_review_page_records_the_reviewer_and_history(
    client, review_staff, s3_photos
):
    attempt = submitted_attempt()

    response = client.post(review_url(attempt), {"decision": "approve"})

    assert response.status_code == 302 and response["Location"] == review_url(attempt)
    saved = reload(attempt)
    assert (saved.status, saved.reviewing_user) == ("approved", review_staff)
    latest = saved.history.first()
    assert (latest.status, latest.history_user, latest.reviewing_user) == (
        "approved",
        review_staff,
        review_staff,
    )
    page = client.get(review_url(attempt))
    assert f"Attempt {attempt.pk} approved." in [str(m) for m in page.context["messages"]]
    history = page.text.split('id="review-history"')[1]
    assert "approved" in history and review_staff.username in history


def test_denying_from_the_review_page_needs_a_reason(client, review_staff, s3_photos):
    attempt = submitted_attempt()

    missing = client.post(review_url(attempt), {"decision": "deny", "reason": ""})
    assert missing.status_code == 200
    assert "errorlist" in missing.text
    assert reload(attempt).status == "submitted"

    client.post(review_url(attempt), {"decision": "deny", "reason": "Name mismatch"})
    saved = reload(attempt)
    assert (saved.status, saved.error_msg, saved.reviewing_user) == (
        "denied",
        "Name mismatch",
        review_staff,
    )
    assert saved.history.first().history_user == review_staff


def test_a_refused_decision_on_the_review_page_is_a_message(client, review_staff, s3_photos):
    attempt = SoftwareSecurePhotoVerificationFactory(status="created")
    attempt.upload_face_image(FACE)

    page = client.get(review_url(attempt))
    assert 'name="decision"' not in page.text  # no buttons for an undecidable attempt

    response = client.post(review_url(attempt), {"decision": "approve"}, follow=True)
    assert response.status_code == 200
    assert any(m.startswith("Not approved:") for m in messages_of(response))
    assert reload(attempt).status == "created"


def test_missing_photos_are_explained_on_the_page(client, review_staff, s3_photos):
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted", photo_id_key="")

    page = client.get(review_url(attempt))
    image = client.get(review_url(attempt, "face"))

    assert page.status_code == 200
    assert "could not be read from storage" in page.text
    assert f"face/{attempt.receipt_id}" in page.text
    assert "No photo ID key is stored" in page.text
    assert "Traceback" not in page.text
    assert image.status_code == 404
    assert image["Content-Type"].startswith("text/plain")
    assert PhotoReviewAccess.objects.count() == 0


def test_undecryptable_photos_are_explained_on_the_page(client, review_staff, s3_photos):
    attempt = submitted_attempt()
    s3_photos.put(f"face/{attempt.receipt_id}", b"bm90IGFuIGltYWdl")  # base64, not ciphertext

    page = client.get(review_url(attempt))

    assert page.status_code == 200
    assert "could not be decrypted" in page.text
    assert review_url(attempt, "face") not in page.text
    assert review_url(attempt, "photo_id") in page.text  # the ID photo still opens


def test_a_storage_outage_is_explained_on_the_page(client, review_staff, settings, closed_port):
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    point_storage_at(
        settings,
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        client_config=Config(retries={"total_max_attempts": 1}),
    )

    page = client.get(review_url(attempt))

    assert page.status_code == 200
    assert "could not be read from storage" in page.text
    assert "Traceback" not in page.text
    assert client.get(review_url(attempt, "face")).status_code == 404


# -- the other models ----------------------------------------------------------------


def test_the_other_admin_pages_render(client, admin_user):
    client.force_login(admin_user)
    deadline = VerificationDeadlineFactory()
    checkpoint = VerificationCheckpointFactory()
    VerificationStatus.add_verification_status(checkpoint, admin_user, "submitted")
    SkippedReverification.add_skipped_reverification_attempt(
        checkpoint, admin_user.pk, checkpoint.course_id
    )
    names = [
        "verificationdeadline",
        "verificationcheckpoint",
        "verificationstatus",
        "skippedreverification",
        "incoursereverificationconfiguration",
        "icrvstatusemailsconfiguration",
        "photoreviewaccess",
    ]

    for name in names:
        page = client.get(reverse(f"admin:verify_student_{name}_changelist"))
        assert page.status_code == 200, name
    assert (
        client.get(
            reverse("admin:verify_student_verificationdeadline_history", args=[deadline.pk])
        ).status_code
        == 200
    )
    assert (
        client.get(reverse("admin:verify_student_icrvstatusemailsconfiguration_add")).status_code
        == 200
    )


def test_a_deadline_edited_in_the_admin_keeps_its_history(client, admin_user):
    client.force_login(admin_user)
    deadline = VerificationDeadlineFactory()
    url = reverse("admin:verify_student_verificationdeadline_change", args=[deadline.pk])

    response = client.post(
        url,
        {
            "course_key": str(deadline.course_key),
            "deadline_0": "2031-01-02",
            "deadline_1": "03:04:05",
            "deadline_is_explicit": "on",
        },
    )

    assert response.status_code == 302
    latest = deadline.history.first()
    assert latest.deadline_is_explicit is True
    assert latest.history_user == admin_user


def test_the_photo_access_log_is_read_only(client, admin_user, s3_photos):
    attempt = submitted_attempt()
    access = PhotoReviewAccess.objects.create(attempt=attempt, user=admin_user, image="face")
    client.force_login(admin_user)

    assert client.get(reverse("admin:verify_student_photoreviewaccess_add")).status_code == 403
    change = client.get(reverse("admin:verify_student_photoreviewaccess_change", args=[access.pk]))
    assert change.status_code == 200
    assert 'name="image"' not in change.text
    delete = reverse("admin:verify_student_photoreviewaccess_delete", args=[access.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403


def test_verification_statuses_are_not_editable_once_written(client, admin_user):
    client.force_login(admin_user)
    checkpoint = VerificationCheckpointFactory()
    VerificationStatus.add_verification_status(checkpoint, admin_user, "submitted")
    row = VerificationStatus.objects.get()

    page = client.get(reverse("admin:verify_student_verificationstatus_change", args=[row.pk]))

    assert page.status_code == 200
    assert 'name="status"' not in page.text
    delete = reverse("admin:verify_student_verificationstatus_delete", args=[row.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
