"""LTI launches from the consumer sandbox, in a real browser.

A consumer that requires an account: the launch sends the learner to log
in, resumes, and links the LTI identity (an ``LtiUser``) to their account; a
second consumer links a second identity to the same account. The grade sent
from the launched content reaches the sandbox's outcome service, signed.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from lti_provider.models import GradedAssignment, LtiUser
from tests.browser.conftest import DemoSite, fill_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def launch(
    page,
    site: DemoSite,
    consumer: str,
    user_id: str,
    email: str | None = "learner@demo.invalid",
    target: str = "_self",
) -> None:
    """Fill the sandbox form as a consumer's admin would, and launch."""
    page.goto(f"{site.url}/lti/sandbox/")
    page.select_option("#id_consumer", value=str(site.consumers[consumer].pk))
    page.fill("#id_user_id", user_id)
    page.set_checked("#id_send_email", email is not None)
    page.fill("#id_email", email or "")
    page.set_checked("#id_send_outcome", True)
    page.select_option("#id_target", value=target)
    page.get_by_role("button", name="Launch").click()


def identities(username: str) -> set[tuple[str, str]]:
    return set(
        LtiUser.objects.filter(edx_user__username=username).values_list(
            "lti_consumer__consumer_name", "lti_user_id"
        )
    )


def test_a_launch_requiring_an_account_logs_in_resumes_and_links(demo_site, new_page):
    page = new_page(width=390, height=844)
    launch(page, demo_site, "Demo Canvas", "canvas-learner-42")

    # Not logged in: the provider keeps the launch and asks for a login.
    expect(page.locator("#lti-login-notice")).to_be_visible()
    assert "/accounts/login/?next=/lti_provider/resume/" in page.url
    assert not LtiUser.objects.exists()
    fill_login(page, "learner", demo_site.passwords["learner"])

    # The launch resumes: the content, as the learner, the identity linked.
    expect(page.locator("h1")).to_have_text("Quiz 1: identity basics")
    expect(page.locator(".whoami")).to_have_text("learner")
    expect(page.locator("#identities")).to_contain_text("Demo Canvas: canvas-learner-42")
    assert identities("learner") == {("Demo Canvas", "canvas-learner-42")}

    # A second consumer, shown in an iframe as a course page does: no login needed
    # (the learner is logged in with the same email), a second identity is linked.
    launch(page, demo_site, "Demo Moodle", "moodle-7", target="iframe")
    tool = page.frame_locator("#lti-tool")
    expect(tool.locator("h1")).to_have_text("Quiz 1: identity basics")
    expect(tool.locator("#identities li")).to_have_count(2)
    expect(tool.locator("#identities")).to_contain_text("Demo Moodle: moodle-7")
    assert identities("learner") == {
        ("Demo Canvas", "canvas-learner-42"),
        ("Demo Moodle", "moodle-7"),
    }
    learner = get_user_model().objects.get(username="learner")
    assert LtiUser.objects.filter(edx_user=learner).count() == 2

    # The learner answers in the tool; the grade goes back to both consumers that asked.
    tool.locator("#id_points").select_option("8")
    tool.get_by_role("button", name="Submit the answer").click()
    expect(tool.locator("#score-sent")).to_have_text("Score 8/10 sent to 2 consumers expecting it.")
    assert GradedAssignment.objects.filter(user=learner).count() == 2

    page.goto(f"{demo_site.url}/lti/gradebook/")
    rows = page.locator("#gradebook tbody tr")
    expect(rows).to_have_count(2)
    received = {
        (rows.nth(i).locator(".learner").inner_text(), rows.nth(i).locator(".score").inner_text())
        for i in range(2)
    }
    assert received == {("canvas-learner-42", "0.8"), ("moodle-7", "0.8")}


def test_a_launch_without_an_email_is_refused_readably(demo_site, new_page):
    page = new_page()
    launch(page, demo_site, "Demo Canvas", "canvas-learner-43", email=None)
    body = page.locator("body")
    expect(body).to_contain_text("did not send an email address")
    expect(body).not_to_contain_text("Traceback")
    assert not LtiUser.objects.exists()


def test_an_open_consumer_gives_a_new_learner_an_account_of_their_own(demo_site, new_page):
    page = new_page()
    launch(page, demo_site, "Demo open consumer", "anon-1", email=None)
    expect(page.locator("h1")).to_have_text("Quiz 1: identity basics")
    link = LtiUser.objects.select_related("edx_user").get(lti_user_id="anon-1")
    expect(page.locator(".whoami")).to_have_text(link.edx_user.username)
    assert link.edx_user.username not in {"learner", "learner2", "reviewer"}
    assert not link.edx_user.has_usable_password()
