"""Seed the demo database (idempotent) and print where to go and how to log in.

Fresh random passwords are set and printed on every run; none is stored in
the repository. Consumer keys and secrets are random, made on the first run,
and shown on the LTI sandbox page. The LTI 1.3 registrations point at
``--url`` (the demo plays the platform there).
"""

from django.core.management.base import BaseCommand

from demo.seed import seed


class Command(BaseCommand):
    help = "Create or refresh the demo users, LTI consumers and platforms, course; print logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="Where the demo will be served."
        )

    def handle(self, *args, **options):
        url = options["url"]
        data = seed(base_url=url)
        out = self.stdout
        out.write("")
        out.write(self.style.SUCCESS(f"Demo LMS ready: {url}"))
        out.write(
            "Logins (new random passwords, shown only now; run `make demo` again for new ones):"
        )
        for role, username, password in data.logins:
            out.write(f"  {role:15} {username:10} {password}")
        out.write(
            f"Course {data.course_id}, verification deadline {data.deadline:%Y-%m-%d %H:%M} UTC"
        )
        out.write(f"LTI consumers (keys and secrets on the sandbox page, {url}lti/sandbox/):")
        for consumer in data.consumers:
            kind = "requires an account" if consumer.require_user_account else "anonymous"
            out.write(f"  {consumer.consumer_name} ({kind})")
        out.write(f"LTI 1.3 platforms played by the demo ({url}lti/sandbox/lti13/):")
        for registration in data.registrations:
            kind = "requires an account" if registration.require_user_account else "anonymous"
            out.write(f"  {registration.name} ({kind}), client id {registration.client_id}")
        out.write("")
