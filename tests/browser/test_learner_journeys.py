"""The learner's and the reviewer's journeys, in a real browser.

Learner: upload a face and an ID photo, submit, watch the stand-in reviewer
approve. Staff: log in to the admin, open the attempt's review page (the
decrypted face photo shown), deny with a reason; the learner sees it.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DemoSite, save_screenshot
from verify_student.models import SoftwareSecurePhotoVerification

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DENIAL_REASON = "The name on the ID card is not legible; please retake the ID photo in daylight."


VERIFY = "/verify_student/verify/"


def submit_photos(page, site: DemoSite, photos: dict[str, bytes]) -> None:
    """Log in, choose both photos on the shipped verification page, send them."""
    site.login(page, "learner", VERIFY)
    expect(page.locator("h1")).to_have_text("Verify your identity")
    page.set_input_files(
        "#id_face_image",
        files=[{"name": "face.png", "mimeType": "image/png", "buffer": photos["face"]}],
    )
    page.set_input_files(
        "#id_photo_id_image",
        files=[{"name": "id.png", "mimeType": "image/png", "buffer": photos["card"]}],
    )
    page.click("#vs-submit")


def test_learner_submits_photos_and_sees_the_approval(demo_site, new_page, photos):
    page = new_page(width=390, height=844)  # a phone: the page must read on a narrow screen
    submit_photos(page, demo_site, photos)

    status = page.locator("#vs-status")
    expect(status).to_have_attribute("data-state", "approved")  # followed without a reload
    expect(status.locator(".vs-state")).to_have_text("Verified")
    expect(status).to_contain_text("Your verification is valid until")
    no_horizontal_scroll = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_horizontal_scroll)
    save_screenshot(page, "learner-status.png", full_page=True)

    attempt = SoftwareSecurePhotoVerification.objects.get(user__username="learner")
    assert attempt.status == "approved"
    assert attempt.reviewing_service == "SoftwareSecure"


def test_a_learner_without_photos_is_told_what_is_missing(demo_site, new_page):
    page = new_page()
    demo_site.login(page, "learner", VERIFY)
    page.click("#vs-submit")
    # The browser's own check: the form is not sent, the first empty photo is named.
    assert page.url.endswith(VERIFY)
    expect(page.locator("#id_face_image:invalid")).to_have_count(1)
    assert page.evaluate("document.activeElement.id") == "id_face_image"
    assert not SoftwareSecurePhotoVerification.objects.exists()


def test_staff_denies_on_the_review_page_and_the_learner_sees_the_reason(
    demo_site, new_page, photos
):
    learner = new_page()
    submit_photos(learner, demo_site, photos)
    expect(learner.locator("#vs-status")).to_have_attribute("data-state", "approved")
    attempt = SoftwareSecurePhotoVerification.objects.get(user__username="learner")

    staff = new_page(width=1000, height=900)
    demo_site.login(staff, "reviewer", "/admin/")
    staff.get_by_role("link", name="Software Secure photo verifications").click()
    row = staff.locator("#result_list tbody tr", has_text=attempt.receipt_id)
    expect(row).to_have_count(1)
    row.get_by_role("link", name="Review").click()

    expect(staff.locator("h1")).to_contain_text(f"Review verification attempt {attempt.pk}")
    face = staff.locator("figure img").first
    expect(face).to_be_visible()
    staff.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=face.element_handle()
    )
    save_screenshot(staff, "review-page.png", full_page=True)

    staff.fill("textarea[name=reason]", DENIAL_REASON)
    staff.get_by_role("button", name="Deny").click()
    expect(staff.locator(".messagelist")).to_contain_text(f"Attempt {attempt.pk} denied.")
    expect(staff.locator(".attempt-status")).to_have_text("denied")
    expect(staff.locator("#review-history")).to_contain_text("reviewer")

    attempt.refresh_from_db()
    assert (attempt.status, attempt.error_msg) == ("denied", DENIAL_REASON)

    learner.reload()
    status = learner.locator("#vs-status")
    expect(status).to_have_attribute("data-state", "must_reverify")
    expect(status.locator(".vs-reason")).to_have_text(f"Reason: {DENIAL_REASON}")
    save_screenshot(learner, "learner-denied.png", full_page=True)
    status.get_by_role("link", name="Send new photos").click()  # they may try again
    expect(learner.locator("#vs-form")).to_be_visible()
    expect(learner.locator(".vs-alert")).to_contain_text(DENIAL_REASON)
