"""The learner pages verify_student ships, in Chromium at 1280 px.

The camera is Chromium's fake device (``--use-fake-device-for-media-stream``):
refused when the page has no camera permission, a moving test pattern when
it has. Without JavaScript the same page is a plain form that still works.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, DemoSite, save_screenshot
from verify_student import fake_reviewer, ssencrypt, storage
from verify_student.conf import app_settings
from verify_student.models import SoftwareSecurePhotoVerification

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VERIFY = "/verify_student/verify/"
WIDE = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def camera_browser(browser):
    """A second Chromium, with a fake camera (each context grants it or not)."""
    chromium = browser.browser_type.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream"]
    )
    yield chromium
    chromium.close()


@pytest.fixture
def camera_page(camera_browser):
    contexts = []

    def make(camera_allowed: bool):
        context = camera_browser.new_context(
            viewport=WIDE, permissions=["camera"] if camera_allowed else []
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def choose(page, field: str, data: bytes, name: str = "photo.png") -> None:
    page.set_input_files(
        f"#id_{field}", files=[{"name": name, "mimeType": "image/png", "buffer": data}]
    )


def expect_approved(page) -> None:
    status = page.locator("#vs-status")
    expect(status).to_have_attribute("data-state", "approved")
    expect(status.locator(".vs-state")).to_have_text("Verified")


def stored_face(username: str) -> bytes:
    attempt = SoftwareSecurePhotoVerification.objects.get(user__username=username)
    encrypted = storage.read_photo(f"face/{attempt.receipt_id}")
    return ssencrypt.decode_and_decrypt(encrypted, app_settings.face_image_aes_key)


def test_before_anything_only_the_form_shows(demo_site: DemoSite, camera_page):
    page = camera_page(camera_allowed=False)
    demo_site.login(page, "learner", VERIFY)
    expect(page.locator("h1")).to_have_text("Verify your identity")
    for field in ("face_image", "photo_id_image"):
        box = page.locator(f"fieldset[data-field={field}]")
        expect(box.get_by_label(box.locator("label").inner_text())).to_be_visible()
        expect(box.get_by_role("button", name="Use the camera instead")).to_be_visible()
        expect(box.get_by_role("button", name="Take the photo")).to_be_hidden()
        expect(box.locator("video")).to_be_hidden()
        expect(box.locator("img")).to_be_hidden()  # no broken image before a photo exists
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    save_screenshot(page, "learner-verify.png", full_page=True)


def test_camera_refused_falls_back_to_file_upload(demo_site, camera_page, photos):
    page = camera_page(camera_allowed=False)
    demo_site.login(page, "learner", VERIFY)
    face = page.locator("fieldset[data-field=face_image]")
    face.get_by_role("button", name="Use the camera instead").click()
    expect(face.locator(".vs-camera-message")).to_contain_text("Choose a photo file instead")
    expect(face.get_by_role("button", name="Take the photo")).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "id_face_image"

    choose(page, "face_image", photos["face"])
    choose(page, "photo_id_image", photos["card"])
    for field in ("face_image", "photo_id_image"):
        preview = page.locator(f"fieldset[data-field={field}] img")
        expect(preview).to_be_visible()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=preview.element_handle()
        )
    page.get_by_role("button", name="Send my photos").click()
    expect(page).to_have_url(f"{demo_site.url}/verify_student/verify/status/")
    expect_approved(page)
    assert stored_face("learner") == photos["face"]


def test_a_photo_taken_with_the_camera_is_sent_by_keyboard_alone(demo_site, camera_page, photos):
    page = camera_page(camera_allowed=True)
    demo_site.login(page, "learner", VERIFY)
    face = page.locator("fieldset[data-field=face_image]")
    face.get_by_role("button", name="Use the camera instead").focus()
    page.keyboard.press("Enter")
    take = face.get_by_role("button", name="Take the photo")
    expect(take).to_be_focused()
    expect(face.locator("video")).to_be_visible()
    page.wait_for_function(
        "video => video.readyState >= 2 && video.videoWidth > 0",
        arg=face.locator("video").element_handle(),
    )
    page.keyboard.press("Enter")

    expect(face.locator(".vs-camera-message")).to_have_text("Photo taken.")
    expect(face.locator("video")).to_be_hidden()
    expect(face.locator("img")).to_be_visible()
    assert page.evaluate("document.getElementById('id_face_image').files.length") == 1
    expect(page.locator("#id_face_image")).to_be_focused()

    choose(page, "photo_id_image", photos["card"])
    page.locator("#vs-submit").focus()
    page.keyboard.press("Enter")
    expect_approved(page)
    assert stored_face("learner").startswith(b"\xff\xd8\xff")  # the camera frame, as JPEG


def test_the_tab_order_follows_the_page(demo_site, new_page):
    page = new_page(**WIDE)
    demo_site.login(page, "learner", VERIFY)
    page.locator("#id_face_image").focus()
    order = []
    for _ in range(5):
        order.append(
            page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        )
        page.keyboard.press("Tab")
    assert order == [
        "id_face_image",
        "Use the camera instead",
        "id_photo_id_image",
        "Use the camera instead",
        "vs-submit",
    ]


def test_without_javascript_the_form_still_sends(demo_site, browser, photos):
    context = browser.new_context(viewport=WIDE, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        demo_site.login(page, "learner", VERIFY)
        expect(page.get_by_role("button", name="Use the camera instead").first).to_be_hidden()
        choose(page, "face_image", photos["face"])
        choose(page, "photo_id_image", photos["card"])
        page.get_by_role("button", name="Send my photos").click()
        expect(page.locator("h1")).to_have_text("Your identity verification")
        expect(page.locator("#vs-status")).to_have_attribute("data-state", "submitted")
        assert fake_reviewer.wait_for_callbacks()  # the stand-in has called back
        page.get_by_role("link", name="Refresh").click()
        expect_approved(page)
    finally:
        context.close()


def test_a_photo_over_the_limit_is_refused_before_it_is_sent(demo_site, new_page, settings, photos):
    settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, "MAX_IMAGE_SIZE": 1024}
    page = new_page(**WIDE)
    demo_site.login(page, "learner", VERIFY)
    requests = []
    page.on("request", lambda request: requests.append(request.method))
    choose(page, "face_image", photos["face"])  # a PNG of several KiB
    error = page.locator("#face_image-error")
    expect(error).to_have_text(
        "The photo of your face is larger than 1 KiB, the largest photo accepted. "
        "Choose a smaller photo or take a new one."
    )
    expect(page.locator("#id_face_image")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("document.getElementById('id_face_image').files.length") == 0
    expect(page.locator("fieldset[data-field=face_image] img")).to_be_hidden()
    assert "POST" not in requests


def test_the_review_column_of_the_admin_list_is_visible_at_1280_px(demo_site, new_page, photos):
    learner = new_page(**WIDE)
    demo_site.login(learner, "learner", VERIFY)
    choose(learner, "face_image", photos["face"])
    choose(learner, "photo_id_image", photos["card"])
    learner.get_by_role("button", name="Send my photos").click()
    expect_approved(learner)

    staff = new_page(**WIDE)
    demo_site.login(staff, "reviewer", "/admin/verify_student/softwaresecurephotoverification/")
    review = staff.locator("#result_list").get_by_role("link", name="Review")
    expect(review).to_be_visible()
    # Not clipped by the list's own scroll box: the whole table fits, and a click on
    # the link's middle lands on the link.
    assert staff.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    results = staff.locator("#changelist .results")
    assert results.evaluate("box => box.scrollWidth <= box.clientWidth")
    hit_test = """link => {
        const r = link.getBoundingClientRect();
        return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === link;
    }"""
    assert review.evaluate(hit_test)
    save_screenshot(staff, "admin-list-1280.png")
