"""Resend learners' current scores to the LTI consumers that expect them.

For each matching ``GradedAssignment`` the current score is read through
``LTI_PROVIDER['SCORE_READER']`` and sent now (``replaceResult``), e.g. after
a consumer outage or a regrade. The assignment's version is raised first, so a
passback still queued with an older score is dropped.

As the original: ``manage.py resend_lti_scores [COURSE_KEY ...]`` (all courses
when none is given); ``--course-id`` adds courses too.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey, UsageKey

from lti_provider import outcomes
from lti_provider.conf import app_settings
from lti_provider.exceptions import OutcomeError
from lti_provider.models import GradedAssignment


class Command(BaseCommand):
    help = (
        "Resend the current scores of LTI graded assignments to their consumers, "
        "reading each score through LTI_PROVIDER['SCORE_READER']."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "course_keys",
            nargs="*",
            metavar="COURSE_KEY",
            help="Only these courses (the original's arguments); all courses when none is given.",
        )
        parser.add_argument(
            "--course-id",
            action="append",
            dest="course_ids",
            default=[],
            metavar="COURSE_ID",
            help="Only this course (repeat for several); all courses when omitted.",
        )
        parser.add_argument(
            "--usage-id",
            dest="usage_id",
            metavar="USAGE_ID",
            help="Only this block (needs a single --course-id containing it).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Read and show the scores, send nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        course_ids = [*options["course_keys"], *options["course_ids"]]
        assignments = self._assignments(course_ids, options["usage_id"])
        if app_settings.score_reader is None:
            raise CommandError(
                "LTI_PROVIDER['SCORE_READER'] is not set: scores cannot be read to resend."
            )
        dry_run = options["dry_run"]
        total = assignments.count()
        self.stdout.write(f"{total} graded assignment(s) to {'check' if dry_run else 'resend'}.")
        counts = {"sent": 0, "skipped": 0, "failed": 0}
        for index, assignment in enumerate(assignments.iterator(), start=1):
            outcome = self._resend(assignment, dry_run)
            counts[outcome[0]] += 1
            self.stdout.write(f"[{index}/{total}] assignment {assignment.pk}: {outcome[1]}")
        verb = "would be sent" if dry_run else "sent"
        summary = (
            f"Done: {counts['sent']} {verb}, {counts['skipped']} skipped (no score), "
            f"{counts['failed']} failed."
        )
        if counts["failed"]:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    def _assignments(self, course_ids: list[str], usage_id: str | None) -> Any:
        try:
            course_keys = [CourseKey.from_string(course_id) for course_id in course_ids]
        except InvalidKeyError as exc:
            raise CommandError(f"Invalid course id: {exc}") from exc
        queryset = GradedAssignment.objects.select_related("outcome_service__lti_consumer")
        if course_keys:
            queryset = queryset.filter(course_key__in=course_keys)
        if usage_id:
            if len(course_keys) != 1:
                raise CommandError("--usage-id needs exactly one --course-id (or one COURSE_KEY).")
            try:
                usage_key = UsageKey.from_string(usage_id)
            except InvalidKeyError as exc:
                raise CommandError(f"Invalid usage id: {exc}") from exc
            # Old-style keys carry no run: they are mapped into the course.
            if usage_key.course_key.run is not None and usage_key.course_key != course_keys[0]:
                raise CommandError(f"{usage_id} is not in course {course_keys[0]}.")
            queryset = queryset.filter(usage_key=usage_key.map_into_course(course_keys[0]))
        return queryset.order_by("pk")

    def _resend(self, assignment: GradedAssignment, dry_run: bool) -> tuple[str, str]:
        try:
            score = outcomes.read_assignment_score(assignment)
        except (ImproperlyConfigured, ValueError) as exc:
            return "failed", f"cannot read the score: {exc}"
        if score is None:
            return "skipped", "no score"
        if dry_run:
            return "sent", f"would send {score}"
        [assignment] = outcomes.increment_assignment_versions([assignment.pk])
        try:
            outcomes.send_score_update(assignment, score)
        except (OutcomeError, ValueError) as exc:
            return "failed", f"not sent: {exc}"
        return "sent", f"sent {score}"
