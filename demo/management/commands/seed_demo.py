"""Seed the demo database (idempotent): a staff reviewer and two learners.

Fresh random passwords are set and printed on every run; none is stored in
the repository.
"""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand

DEMO_USERS = [
    # username, email, first, last, staff
    ("reviewer", "reviewer@demo.invalid", "Rita", "Reviewer", True),
    ("learner", "learner@demo.invalid", "Lea", "Learner", False),
    ("learner2", "learner2@demo.invalid", "Leo", "Learner", False),
]


class Command(BaseCommand):
    help = "Create or refresh the demo users and print their one-time passwords."

    def handle(self, *args, **options):
        User = get_user_model()
        review = Permission.objects.filter(codename="review_photos").first()
        self.stdout.write("Demo logins (new random passwords, shown only now):")
        for username, email, first, last, staff in DEMO_USERS:
            user, _created = User.objects.get_or_create(username=username)
            user.email, user.first_name, user.last_name = email, first, last
            user.is_staff = user.is_superuser = staff
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.save()
            if staff and review:
                user.user_permissions.add(review)
            role = "staff reviewer" if staff else "learner"
            self.stdout.write(f"  {role:15} {username:10} {password}")
