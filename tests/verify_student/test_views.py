"""Photo submission and status views, through Django's test client with real S3."""

import base64
import copy
import json
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import SoftwareSecurePhotoVerificationFactory, StaffFactory, UserFactory
from verify_student import ssencrypt
from verify_student.models import SoftwareSecurePhotoVerification

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"face-pixels" * 50
JPEG = b"\xff\xd8\xff\xe0" + b"id-card-pixels" * 50
SUBMIT = "/verify_student/submit-photos/"
PRIVATE_KEY = Path(__file__).resolve().parent.parent / "data" / "rsa_test_private.pem"


def data_url(data, kind="png"):
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


@pytest.fixture
def learner_client(user):
    client = Client()
    client.force_login(user)
    return client


class TestSubmitPhotos:
    def test_data_urls_are_encrypted_stored_and_submitted(
        self, learner_client, user, s3_photos, reviewer, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = learner_client.post(
                SUBMIT,
                {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG, "jpeg")},
            )
        assert response.status_code == 200, response.content
        attempt = SoftwareSecurePhotoVerification.objects.get(user=user)
        assert response.json() == {"receipt_id": attempt.receipt_id, "status": "ready"}
        assert attempt.status == "submitted"
        assert attempt.name == user.get_full_name()
        assert s3_photos.object_keys() == [
            f"face/{attempt.receipt_id}",
            f"photo_id/{attempt.receipt_id}",
        ]
        stored_face = s3_photos.get(f"face/{attempt.receipt_id}")
        assert PNG not in stored_face
        (received,) = reviewer.received
        assert received.signature_ok
        assert (received.face_image, received.photo_id_image) == (PNG, JPEG)

    def test_multipart_files(self, learner_client, user, s3_photos):
        from django.core.files.uploadedfile import SimpleUploadedFile

        response = learner_client.post(
            SUBMIT,
            {
                "face_image": SimpleUploadedFile("face.png", PNG, "image/png"),
                "photo_id_image": SimpleUploadedFile("id.jpg", JPEG, "image/jpeg"),
            },
        )
        assert response.status_code == 200
        attempt = SoftwareSecurePhotoVerification.objects.get(user=user)
        key = ssencrypt.rsa_decrypt(
            ssencrypt.decode_key_text(attempt.photo_id_key),
            PRIVATE_KEY.read_text(),
        )
        stored = s3_photos.get(f"photo_id/{attempt.receipt_id}")
        assert ssencrypt.decode_and_decrypt(stored, key) == JPEG

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({}, "A photo of your face is required."),
            ({"face_image": data_url(PNG)}, "A photo of your ID is required"),
            (
                {"face_image": data_url(b"GIF89a..."), "photo_id_image": data_url(JPEG)},
                "JPEG or PNG",
            ),
            (
                {"face_image": "data:image/png;base64,@@@", "photo_id_image": data_url(JPEG)},
                "base64",
            ),
            ({"face_image": "http://x/y.png", "photo_id_image": data_url(JPEG)}, "data URL"),
            (
                {"face_image": data_url(PNG), "photo_id_image": data_url(b"")},
                "The photo of your ID is empty.",
            ),
        ],
    )
    def test_bad_input_is_refused_and_nothing_is_stored(
        self, learner_client, s3_photos, fields, message
    ):
        response = learner_client.post(SUBMIT, fields)
        assert response.status_code == 400
        assert message in response.json()["error"]
        assert not SoftwareSecurePhotoVerification.objects.exists()
        assert s3_photos.object_keys() == []

    def test_size_limit(self, learner_client, s3_photos, settings):
        config = copy.deepcopy(settings.VERIFY_STUDENT)
        config["MAX_IMAGE_SIZE"] = 100
        settings.VERIFY_STUDENT = config
        response = learner_client.post(
            SUBMIT, {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG)}
        )
        assert response.status_code == 400
        assert response.json()["error"] == (
            "The photo of your face is larger than 100 bytes, the largest photo accepted. "
            "Choose a smaller photo or take a new one."
        )
        assert s3_photos.object_keys() == []
        assert not SoftwareSecurePhotoVerification.objects.exists()

    @pytest.mark.parametrize(
        ("field", "named"),
        [("face_image", "photo of your face"), ("photo_id_image", "photo of your ID")],
    )
    def test_an_oversized_file_is_named_in_the_unit_of_the_limit(
        self, learner_client, s3_photos, settings, field, named
    ):
        from django.core.files.uploadedfile import SimpleUploadedFile

        config = copy.deepcopy(settings.VERIFY_STUDENT)
        config["MAX_IMAGE_SIZE"] = 2 * 1024
        settings.VERIFY_STUDENT = config
        files = {
            "face_image": SimpleUploadedFile("face.png", PNG, "image/png"),
            "photo_id_image": SimpleUploadedFile("id.jpg", JPEG, "image/jpeg"),
        }
        files[field] = SimpleUploadedFile("big.png", PNG + b"x" * 4000, "image/png")
        response = learner_client.post(SUBMIT, files)
        assert response.status_code == 400
        error = response.json()["error"]
        assert f"The {named} is larger than 2 KiB" in error
        assert field not in error
        assert s3_photos.object_keys() == []

    def test_the_default_limit_reads_10_mib(self, learner_client, s3_photos):
        from django.core.files.uploadedfile import SimpleUploadedFile

        big = SimpleUploadedFile("big.png", PNG + b"x" * (10 * 1024 * 1024), "image/png")
        response = learner_client.post(SUBMIT, {"face_image": big})
        assert response.status_code == 400
        assert "larger than 10 MiB" in response.json()["error"]

    def test_a_body_longer_than_two_photos_is_refused_unread(self, user):
        from django.test import RequestFactory

        from verify_student.views import submit_photos

        class Unreadable:
            def read(self, *args):
                raise AssertionError("the body was read")

            readline = read

        request = RequestFactory().post(SUBMIT, b"", content_type="multipart/form-data; boundary=x")
        request.META["CONTENT_LENGTH"] = str(200 * 1024 * 1024)
        request._stream = Unreadable()
        request.user = user
        response = submit_photos(request)
        assert response.status_code == 413
        assert "each may be at most 10 MiB" in json.loads(response.content)["error"]
        assert not SoftwareSecurePhotoVerification.objects.exists()

    def test_reverification_reuses_the_initial_photo_id(self, learner_client, user, s3_photos):
        initial = SoftwareSecurePhotoVerificationFactory(
            user=user, status="approved", photo_id_key="sealed"
        )
        response = learner_client.post(SUBMIT, {"face_image": data_url(PNG)})
        assert response.status_code == 200
        attempt = SoftwareSecurePhotoVerification.objects.exclude(pk=initial.pk).get()
        assert attempt.copy_id_photo_from == initial
        assert s3_photos.object_keys() == [f"face/{attempt.receipt_id}"]

    def test_storage_outage_is_a_clear_error_and_leaves_nothing(self, learner_client, settings):
        config = copy.deepcopy(settings.VERIFY_STUDENT)
        config["SOFTWARE_SECURE"]["STORAGE_KWARGS"]["endpoint_url"] = "http://127.0.0.1:9"
        settings.VERIFY_STUDENT = config
        response = learner_client.post(
            SUBMIT, {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG)}
        )
        assert response.status_code == 503
        assert "could not be stored" in response.json()["error"]
        assert not SoftwareSecurePhotoVerification.objects.exists()

    @pytest.mark.parametrize(
        ("change", "named"),
        [
            ({"FACE_IMAGE_AES_KEY": None}, "FACE_IMAGE_AES_KEY"),
            ({"RSA_PUBLIC_KEY": ""}, "RSA_PUBLIC_KEY"),
            ({"API_URL": None}, "API_URL"),
            # boto3 would fail only at the upload ("Required parameter name not set").
            ({"STORAGE_KWARGS": {"region_name": "us-east-1"}}, "bucket"),
        ],
    )
    def test_an_unconfigured_site_answers_503_and_keeps_nothing(
        self, learner_client, settings, no_secrets_in_logs, change, named
    ):
        config = copy.deepcopy(settings.VERIFY_STUDENT)
        for key, value in change.items():
            config["SOFTWARE_SECURE"][key] = value
        settings.VERIFY_STUDENT = config
        response = learner_client.post(
            SUBMIT, {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG)}
        )
        assert response.status_code == 503
        assert "not available on this site" in response.json()["error"]
        assert named not in response.json()["error"]  # the learner is not told settings
        assert not SoftwareSecurePhotoVerification.objects.exists()
        logged = [r.getMessage() for r in no_secrets_in_logs.records if r.levelname == "ERROR"]
        assert any(named in message for message in logged)

    def test_login_required(self, client):
        assert client.post(SUBMIT, {"face_image": data_url(PNG)}).status_code == 401

    def test_get_not_allowed(self, learner_client):
        assert learner_client.get(SUBMIT).status_code == 405

    def test_csrf_is_enforced(self, user, s3_photos):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        response = client.post(
            SUBMIT, {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG)}
        )
        assert response.status_code == 403
        assert not SoftwareSecurePhotoVerification.objects.exists()


class TestStatusApi:
    def test_own_status(self, learner_client, user):
        SoftwareSecurePhotoVerificationFactory(user=user, status="submitted")
        body = learner_client.get("/verify_student/status/").json()
        assert (body["username"], body["status"], body["is_verified"]) == (
            user.username,
            "pending",
            False,
        )

    def test_approved_has_expiry(self, learner_client, user):
        SoftwareSecurePhotoVerificationFactory(user=user, status="approved")
        body = learner_client.get("/verify_student/status/").json()
        assert body["status"] == "approved" and body["is_verified"]
        assert body["verification_expiry"]

    def test_learner_cannot_see_another_user(self, learner_client):
        other = UserFactory()
        assert learner_client.get(f"/verify_student/status/{other.username}/").status_code == 403
        assert (
            learner_client.get(f"/verify_student/status/?username={other.username}").status_code
            == 403
        )

    def test_staff_can_see_any_user(self):
        # Staff with the view permission (is_staff alone is not enough: TestStatusApiPermission).
        from django.contrib.auth.models import Permission

        staff, learner = StaffFactory(), UserFactory()
        staff.user_permissions.add(
            Permission.objects.get(codename="view_softwaresecurephotoverification")
        )
        SoftwareSecurePhotoVerificationFactory(user=learner, status="denied", error_msg="x")
        client = Client()
        client.force_login(staff)
        body = client.get(f"/verify_student/status/{learner.username}/").json()
        assert (body["username"], body["status"]) == (learner.username, "must_reverify")
        assert client.get("/verify_student/status/nobody/").status_code == 404

    def test_login_required(self, client):
        assert client.get("/verify_student/status/").status_code == 401


class TestOneAttemptAtATime:
    """A paid review at a time per learner, and a daily cap on new attempts."""

    @pytest.mark.parametrize("status", ["ready", "submitted"])
    def test_another_submission_while_one_is_in_flight_is_409_and_stores_nothing(
        self, learner_client, user, s3_photos, status
    ):
        in_flight = SoftwareSecurePhotoVerificationFactory(user=user, status=status)
        response = learner_client.post(
            SUBMIT, {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG, "jpeg")}
        )
        assert response.status_code == 409
        assert "already in progress" in response.json()["error"]
        assert list(SoftwareSecurePhotoVerification.objects.all()) == [in_flight]
        assert s3_photos.object_keys() == []

    @pytest.mark.parametrize("status", ["created", "must_retry", "approved", "denied"])
    def test_a_new_attempt_is_taken_once_the_last_is_not_in_flight(
        self, learner_client, user, s3_photos, status
    ):
        SoftwareSecurePhotoVerificationFactory(user=user, status=status)
        response = learner_client.post(
            SUBMIT, {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG, "jpeg")}
        )
        assert response.status_code == 200, response.content

    def test_another_learners_attempt_does_not_count(self, learner_client, s3_photos):
        SoftwareSecurePhotoVerificationFactory(status="submitted")
        response = learner_client.post(
            SUBMIT, {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG, "jpeg")}
        )
        assert response.status_code == 200

    def test_the_api_refuses_it_too(self, user, s3_photos):
        from verify_student import api
        from verify_student.exceptions import AttemptInProgressError

        SoftwareSecurePhotoVerificationFactory(user=user, status="submitted")
        with pytest.raises(AttemptInProgressError):
            api.submit_verification(user, PNG, JPEG)
        assert s3_photos.object_keys() == []

    def test_attempts_past_the_daily_cap_are_429_and_store_nothing(self, user, s3_photos, settings):
        from freezegun import freeze_time

        settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "MAX_ATTEMPTS_PER_DAY": 2}
        learner_client = Client()
        with freeze_time("2030-01-01 08:00:00"):
            learner_client.force_login(user)
            SoftwareSecurePhotoVerificationFactory(user=user, status="denied")
        with freeze_time("2030-01-01 10:00:00"):
            SoftwareSecurePhotoVerificationFactory(user=user, status="denied")
        with freeze_time("2030-01-02 07:00:00"):
            response = learner_client.post(
                SUBMIT, {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG, "jpeg")}
            )
        assert response.status_code == 429
        assert "2 verification attempts" in response.json()["error"]
        assert response["Retry-After"] == str(60 * 60)  # the 08:00 attempt leaves the window
        assert SoftwareSecurePhotoVerification.objects.count() == 2
        assert s3_photos.object_keys() == []
        with freeze_time("2030-01-02 08:00:01"):
            response = learner_client.post(
                SUBMIT, {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG, "jpeg")}
            )
        assert response.status_code == 200

    def test_the_daily_cap_defaults_to_five(self, user, s3_photos):
        from verify_student import api
        from verify_student.conf import app_settings
        from verify_student.exceptions import TooManyAttemptsError

        assert app_settings.MAX_ATTEMPTS_PER_DAY == 5
        for _ in range(5):
            SoftwareSecurePhotoVerificationFactory(user=user, status="denied")
        with pytest.raises(TooManyAttemptsError):
            api.submit_verification(user, PNG, JPEG)

    def test_no_daily_cap_when_the_setting_is_none(self, learner_client, user, s3_photos, settings):
        settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "MAX_ATTEMPTS_PER_DAY": None}
        for _ in range(8):
            SoftwareSecurePhotoVerificationFactory(user=user, status="denied")
        response = learner_client.post(
            SUBMIT, {"face_image": data_url(PNG), "photo_id_image": data_url(JPEG, "jpeg")}
        )
        assert response.status_code == 200


class TestStatusApiPermission:
    """Another learner's status (denial reason included) needs a permission, not is_staff."""

    def test_staff_without_the_permission_is_refused(self):
        staff, learner = StaffFactory(), UserFactory()
        SoftwareSecurePhotoVerificationFactory(user=learner, status="denied", error_msg="x")
        client = Client()
        client.force_login(staff)
        assert client.get(f"/verify_student/status/{learner.username}/").status_code == 403
        assert client.get(f"/verify_student/status/?username={learner.username}").status_code == 403
        assert client.get("/verify_student/status/nobody/").status_code == 403  # no probing

    def test_the_view_permission_is_enough_staff_or_not(self):
        from django.contrib.auth.models import Permission

        support, learner = UserFactory(), UserFactory()
        support.user_permissions.add(
            Permission.objects.get(
                codename="view_softwaresecurephotoverification",
                content_type__app_label="verify_student",
            )
        )
        SoftwareSecurePhotoVerificationFactory(user=learner, status="denied", error_msg="blurry")
        client = Client()
        client.force_login(support)
        body = client.get(f"/verify_student/status/{learner.username}/").json()
        assert (body["username"], body["status"]) == (learner.username, "must_reverify")
        assert client.get("/verify_student/status/nobody/").status_code == 404

    def test_a_superuser_may(self):
        admin, learner = StaffFactory(is_superuser=True), UserFactory()
        client = Client()
        client.force_login(admin)
        assert client.get(f"/verify_student/status/{learner.username}/").status_code == 200
