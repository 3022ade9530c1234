"""The learner's pages (verify, status): plain HTML forms that work without JavaScript."""

from __future__ import annotations

import copy
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import SoftwareSecurePhotoVerificationFactory
from verify_student.models import SoftwareSecurePhotoVerification

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"face-pixels" * 50
JPEG = b"\xff\xd8\xff\xe0" + b"id-card-pixels" * 50
VERIFY = "/verify_student/verify/"
STATUS = "/verify_student/verify/status/"


@pytest.fixture
def learner(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token(client, url=VERIFY) -> str:
    page = client.get(url)
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def photos(**overrides):
    files = {
        "face_image": SimpleUploadedFile("face.png", PNG, "image/png"),
        "photo_id_image": SimpleUploadedFile("id.jpg", JPEG, "image/jpeg"),
    }
    files.update(overrides)
    return {name: value for name, value in files.items() if value is not None}


def post_form(client, **overrides):
    return client.post(VERIFY, {"csrfmiddlewaretoken": csrf_token(client), **photos(**overrides)})


def test_the_url_names_are_documented_ones():
    assert reverse("verify_student_verify") == VERIFY
    assert reverse("verify_student_status") == STATUS


@pytest.mark.parametrize("url", [VERIFY, STATUS])
def test_pages_need_a_login(client, url, settings):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{settings.LOGIN_URL}?next=")


def test_the_form_is_a_plain_multipart_form_with_labelled_inputs(learner):
    page = learner.get(VERIFY)
    assert page.status_code == 200
    html = page.text
    assert '<form method="post" enctype="multipart/form-data"' in html
    for field in ("face_image", "photo_id_image"):
        assert re.search(rf'<label for="id_{field}">[^<]+</label>', html)
        assert re.search(rf'<input type="file" id="id_{field}" name="{field}"[^>]* required', html)
        assert f'aria-describedby="{field}-help {field}-error"' in html
    assert "at most 10 MiB" in html
    # The camera controls, the video and the previews start hidden (shown by the script).
    assert html.count('<div class="vs-camera" hidden>') == 2
    assert html.count("<video") == html.count('<video class="vs-video" playsinline muted hidden')
    assert all("hidden" in tag for tag in re.findall(r"<img [^>]+>", html))
    assert "/static/verify_student/verify.js" in html
    assert "/static/verify_student/learner.css" in html
    assert "<!DOCTYPE html>" in html  # the default base template


def test_posting_the_form_without_javascript_sends_the_photos(
    learner, user, s3_photos, reviewer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_form(learner)
    assert response.status_code == 302
    assert response["Location"] == STATUS
    attempt = SoftwareSecurePhotoVerification.objects.get(user=user)
    assert attempt.status == "submitted"
    assert len(reviewer.received) == 1
    status = learner.get(STATUS)
    assert 'data-state="submitted"' in status.text
    assert "With the reviewer" in status.text
    assert f'data-follow="{STATUS}"' in status.text  # the script follows the review


def test_missing_photos_are_named_and_nothing_is_kept(learner, s3_photos):
    response = post_form(learner, face_image=None, photo_id_image=None)
    assert response.status_code == 400
    html = response.text
    assert 'role="alert"' in html
    assert '<a href="#id_face_image">Choose or take a photo of your face.</a>' in html
    assert '<a href="#id_photo_id_image">Choose or take a photo of your ID.</a>' in html
    assert html.count('aria-invalid="true"') == 2
    assert not SoftwareSecurePhotoVerification.objects.exists()
    assert s3_photos.object_keys() == []


def test_a_photo_over_the_limit_is_named_in_words_the_learner_knows(learner, s3_photos, settings):
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    config["MAX_IMAGE_SIZE"] = 1024
    settings.VERIFY_STUDENT = config
    big = SimpleUploadedFile("id.jpg", JPEG + b"x" * 5000, "image/jpeg")
    response = post_form(learner, photo_id_image=big)
    assert response.status_code == 400
    assert "The photo of your ID is larger than 1 KiB" in response.text
    assert "photo_id_image is" not in response.text
    assert not SoftwareSecurePhotoVerification.objects.exists()


def test_a_file_that_is_no_photo_is_refused(learner, s3_photos):
    response = post_form(learner, face_image=SimpleUploadedFile("a.gif", b"GIF89a...", "image/gif"))
    assert response.status_code == 400
    assert "The photo of your face must be a JPEG or PNG image." in response.text


def test_the_csrf_token_is_checked(user, s3_photos):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(VERIFY, photos()).status_code == 403
    assert not SoftwareSecurePhotoVerification.objects.exists()


def test_an_unconfigured_site_tells_the_learner_to_come_back(learner, settings):
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    del config["SOFTWARE_SECURE"]["FACE_IMAGE_AES_KEY"]
    settings.VERIFY_STUDENT = config
    response = post_form(learner)
    assert response.status_code == 503
    assert "not available on this site yet" in response.text
    assert "FACE_IMAGE_AES_KEY" not in response.text


def test_while_photos_are_reviewed_the_page_sends_no_more(learner, user, s3_photos):
    SoftwareSecurePhotoVerificationFactory(user=user, status="submitted")
    page = learner.get(VERIFY)
    assert "you cannot send new ones until they are reviewed" in page.text
    assert "<form" not in page.text


def test_a_second_submission_from_an_old_tab_is_refused(learner, user, s3_photos):
    token = csrf_token(learner)
    SoftwareSecurePhotoVerificationFactory(user=user, status="submitted")
    response = learner.post(VERIFY, {"csrfmiddlewaretoken": token, **photos()})
    assert response.status_code == 409
    assert SoftwareSecurePhotoVerification.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    ("attempt_status", "state", "text"),
    [
        (None, "none", "You have not sent photos"),
        ("ready", "ready", "They will be sent to the reviewer shortly"),
        ("submitted", "submitted", "Your photos are being reviewed"),
        ("must_retry", "must_retry", "They will be sent again"),
        ("approved", "approved", "Your verification is valid until"),
        ("denied", "must_reverify", "Reason: No photo ID was provided."),
    ],
)
def test_the_status_page_tells_where_the_learner_stands(learner, user, attempt_status, state, text):
    if attempt_status:
        SoftwareSecurePhotoVerificationFactory(
            user=user, status=attempt_status, error_msg='[{"photoIdReasons": ["Not provided"]}]'
        )
    page = learner.get(STATUS)
    assert page.status_code == 200
    assert f'data-state="{state}"' in page.text
    assert text in page.text
    follows = state in ("ready", "submitted", "must_retry")
    assert ("data-follow=" in page.text) is follows
    assert (f'href="{VERIFY}"' in page.text) is (state in ("none", "must_reverify"))


def test_an_expired_verification_asks_for_new_photos(learner, user, settings):
    attempt = SoftwareSecurePhotoVerificationFactory(user=user, status="approved")
    old = timezone.now() - timedelta(days=400)
    SoftwareSecurePhotoVerification.objects.filter(pk=attempt.pk).update(
        created_at=old, updated_at=old
    )
    page = learner.get(STATUS)
    assert 'data-state="expired"' in page.text
    assert "Send new photos" in page.text
    assert "<form" in learner.get(VERIFY).text


def test_the_base_template_is_the_hosts(learner, settings):
    settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "BASE_TEMPLATE": "host/base.html"}
    for url in (VERIFY, STATUS):
        html = learner.get(url).text
        assert "<header>The host's own header</header>" in html
        assert "<title>Host LMS: " in html


def test_with_the_broker_down_the_learner_is_told_the_photos_will_be_sent(
    learner, user, s3_photos, reviewer, celery_broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_form(learner)
    assert response.status_code == 302  # the learner's request succeeds
    assert SoftwareSecurePhotoVerification.objects.get(user=user).status == "ready"
    assert reviewer.received == []
    status = learner.get(STATUS).text
    assert 'data-state="ready"' in status
    assert "They will be sent to the reviewer shortly" in status
