"""The reviewer stand-in: a full round trip over real HTTP on 127.0.0.1.

Learner submits -> the client POSTs the signed submission to the stand-in
(served by the live server) -> the stand-in checks the signature, decrypts
both photos with the RSA private test key, and POSTs the signed verdict to
the results callback of the same live server.
"""

import copy
from urllib.parse import urlparse

import pytest
import requests

from tests.factories import UserFactory
from verify_student import api, fake_reviewer
from verify_student.models import SoftwareSecurePhotoVerification

PNG = b"\x89PNG\r\n\x1a\n" + b"face" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"card" * 100


@pytest.fixture
def stand_in(live_server, settings, s3_photos):
    host = urlparse(live_server.url).netloc
    settings.SITE_NAME = host
    settings.HTTPS = "off"
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    config["SOFTWARE_SECURE"]["API_URL"] = (
        f"{live_server.url}/verify_student/software-secure-fake-response/"
    )
    settings.VERIFY_STUDENT = config
    return live_server


def decision(attempt):
    """The attempt's status once the stand-in's callback is done (no polling of the DB)."""
    assert fake_reviewer.wait_for_callbacks(30)
    attempt.refresh_from_db()
    return attempt.status


@pytest.mark.django_db(transaction=True)
def test_valid_photos_are_approved_by_the_stand_in(stand_in):
    user = UserFactory()
    attempt = api.submit_verification(user, PNG, JPEG)
    assert decision(attempt) == "approved"
    assert attempt.reviewing_service == "SoftwareSecure"


@pytest.mark.django_db(transaction=True)
def test_an_unreadable_id_photo_is_denied_with_a_reason(stand_in, s3_photos):
    attempt = SoftwareSecurePhotoVerification.objects.create(user=UserFactory())
    attempt.upload_face_image(PNG)
    attempt.upload_photo_id_image(JPEG)
    attempt.mark_ready()
    s3_photos.put(f"photo_id/{attempt.receipt_id}", b"not what was stored")
    attempt.submit()
    assert decision(attempt) == "denied"
    assert attempt.parsed_error_msg() == "No photo ID was provided."


@pytest.mark.django_db(transaction=True)
def test_unsigned_submissions_are_refused(stand_in):
    url = f"{stand_in.url}/verify_student/software-secure-fake-response/"
    response = requests.post(url, json={"EdX-ID": "x", "SendResponseTo": "http://127.0.0.1:9/"})
    assert response.status_code == 401
    assert requests.post(url, data="{bad").status_code == 400


@pytest.mark.django_db
def test_off_unless_enabled(client, settings):
    settings.FEATURES = {**settings.FEATURES, "ENABLE_SOFTWARE_SECURE_FAKE": False}
    response = client.post(
        "/verify_student/software-secure-fake-response/", "{}", content_type="application/json"
    )
    assert response.status_code == 404


@pytest.mark.django_db
def test_stand_in_without_private_key_reports_a_system_failure(settings):
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    config["RSA_PRIVATE_KEY_FOR_REVIEW"] = None
    settings.VERIFY_STUDENT = config
    assert fake_reviewer.review({}).result == "SYSTEM FAIL"
