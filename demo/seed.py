"""The demo's data, created or refreshed idempotently (``seed_demo`` and the browser tests).

Users get fresh random passwords on every run (returned, never stored in
the repository); consumers keep the random keys and secrets made the first
time, so a consumer configured once keeps working. Given the URL the demo is
served at, the LTI 1.3 platforms the sandbox plays are registered too
(``platform13.seed_registrations``: issuer and endpoints on that URL; the
tool's and the platform's key pairs are kept).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from lti_provider.models import LtiConsumer
from verify_student import api
from verify_student.models import VerificationDeadline

DEMO_COURSE = "course-v1:DemoX+Verify101+2026"
#: The blocks a consumer can launch: (usage id, title).
DEMO_BLOCKS = [
    ("block-v1:DemoX+Verify101+2026+type@problem+block@quiz1", "Quiz 1: identity basics"),
    ("block-v1:DemoX+Verify101+2026+type@problem+block@quiz2", "Quiz 2: LTI in practice"),
]
REVIEWERS_GROUP = "Verification reviewers"

DEMO_USERS = [
    # role, username, email, first name, last name
    ("staff reviewer", "reviewer", "reviewer@demo.invalid", "Rita", "Reviewer"),
    ("learner", "learner", "learner@demo.invalid", "Lea", "Learner"),
    ("learner", "learner2", "learner2@demo.invalid", "Leo", "Learner"),
]

DEMO_CONSUMERS = [
    # name, require_user_account
    ("Demo Canvas", True),
    ("Demo Moodle", True),
    ("Demo open consumer", False),
]

#: What the reviewer may do in the admin: review and decide attempts, and look
#: (read only) at the rest of the verification and LTI data. Not a superuser.
REVIEWER_PERMISSIONS = {
    "verify_student": [
        "review_photos",
        "view_softwaresecurephotoverification",
        "change_softwaresecurephotoverification",
        "view_photoreviewaccess",
        "view_verificationdeadline",
    ],
    "lti_provider": [
        "view_lti13registration",
        "view_lticonsumer",
        "view_ltiuser",
        "view_gradedassignment",
        "view_outcomeservice",
    ],
}


@dataclass
class DemoData:
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # role, username, password
    consumers: list[LtiConsumer] = field(default_factory=list)
    registrations: list[Any] = field(default_factory=list)  # Lti13Registration
    course_id: str = DEMO_COURSE
    deadline: Any = None


def reviewer_permissions() -> list[Permission]:
    found = []
    for app_label, codenames in REVIEWER_PERMISSIONS.items():
        found += Permission.objects.filter(
            content_type__app_label=app_label, codename__in=codenames
        )
    return found


@transaction.atomic
def seed(deadline_days: int = 60, base_url: str | None = None) -> DemoData:
    """Create or refresh the demo users, consumers and course deadline.

    With ``base_url`` (where the demo is served), also the LTI 1.3 registrations.
    """
    data = DemoData()
    group, _ = Group.objects.get_or_create(name=REVIEWERS_GROUP)
    group.permissions.set(reviewer_permissions())
    user_model = get_user_model()
    for role, username, email, first, last in DEMO_USERS:
        user, _ = user_model.objects.get_or_create(username=username)
        user.email, user.first_name, user.last_name = email, first, last
        user.is_staff = role == "staff reviewer"
        user.is_superuser = False
        user.is_active = True
        password = secrets.token_urlsafe(9)
        user.set_password(password)
        user.save()
        if user.is_staff:
            user.groups.add(group)
        data.logins.append((role, username, password))

    for name, require_account in DEMO_CONSUMERS:
        consumer, _ = LtiConsumer.objects.get_or_create(
            consumer_name=name, defaults={"require_user_account": require_account}
        )
        if consumer.require_user_account != require_account:
            consumer.require_user_account = require_account
            consumer.save(update_fields=["require_user_account"])
        data.consumers.append(consumer)

    deadline = api.deadline_for_course(DEMO_COURSE)
    if deadline is None or deadline < timezone.now():
        deadline = (timezone.now() + timedelta(days=deadline_days)).replace(microsecond=0)
        VerificationDeadline.set_deadline(DEMO_COURSE, deadline, is_explicit=True)
    data.deadline = deadline
    if base_url:
        from demo.platform13 import seed_registrations

        data.registrations = seed_registrations(base_url)
    return data
