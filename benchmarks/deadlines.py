"""Deadlines: ``deadlines_for_courses`` reads only the asked-for rows.

Bar: ``VerificationDeadline.deadlines_for_courses`` for 10 courses with 12,000
deadlines in the table costs <= 1.5x the same call with 10 rows in the table,
cold cache (the cache is cleared before every call, on both sides alike).
The two tables live in two databases of the same engine, ``default``
(12,000 rows) and ``small`` (10 rows); ``SwitchRouter`` sends the model's
queries to one or the other, so both sides run the same code.
"""

from __future__ import annotations

from datetime import timedelta

from benchmarks.common import (
    SwitchRouter,
    figure,
    fmt_ms,
    interleaved,
    main_for,
    refresh_statistics,
    use_database,
)

AREA = "deadlines"
BIG = 12_000
COURSES = 10
CALLS_PER_SAMPLE = 50
ROUNDS = 15
BAR = 1.5


def seed(alias: str, rows: int) -> None:
    from django.utils import timezone
    from opaque_keys.edx.keys import CourseKey

    from verify_student.models import VerificationDeadline

    now = timezone.now()
    VerificationDeadline.objects.using(alias).bulk_create(
        (
            VerificationDeadline(
                course_key=CourseKey.from_string(f"course-v1:Org+C{i}+Run"),
                deadline=now + timedelta(days=i % 400),
            )
            for i in range(rows)
        ),
        batch_size=2000,
    )


def run(db: str) -> None:
    with use_database(db, "verify_lti_bench_deadlines", second_db=True) as label:
        from django.core.cache import cache
        from django.db import connections
        from django.test.utils import CaptureQueriesContext
        from opaque_keys.edx.keys import CourseKey

        from verify_student.models import VerificationDeadline

        seed("default", BIG)
        seed("small", COURSES)
        refresh_statistics("default", "small")
        # Spread over the big table; the first 10 exist in the small one too.
        wanted = [CourseKey.from_string(f"course-v1:Org+C{i}+Run") for i in range(COURSES)]

        def on(alias: str) -> None:
            SwitchRouter.alias = alias
            for _ in range(CALLS_PER_SAMPLE):
                cache.clear()
                found = VerificationDeadline.deadlines_for_courses(wanted)
            assert len(found) == COURSES

        queries = {}
        for alias in ("default", "small"):
            SwitchRouter.alias = alias
            cache.clear()
            with CaptureQueriesContext(connections[alias]) as captured:
                VerificationDeadline.deadlines_for_courses(wanted)
            queries[alias] = len(captured)
        medians = interleaved(
            {"12,000 rows": lambda: on("default"), "10 rows": lambda: on("small")}, ROUNDS
        )
        ratio = medians["12,000 rows"] / medians["10 rows"]
        figure(
            AREA,
            "deadlines_for_courses(10 courses), cold cache: 12,000-row table vs 10-row table",
            setup=(
                f"{label} (two databases, same engine); cache cleared before each call "
                f"(both sides); {CALLS_PER_SAMPLE} calls per sample, {ROUNDS} interleaved "
                "rounds, medians"
            ),
            values={
                "12,000 rows, per call": fmt_ms(medians["12,000 rows"] / CALLS_PER_SAMPLE)
                + f"  ({queries['default']} queries)",
                "10 rows, per call": fmt_ms(medians["10 rows"] / CALLS_PER_SAMPLE)
                + f"  ({queries['small']} queries)",
            },
            ratio=ratio,
            bar=f"<= {BAR}x",
            passed=ratio <= BAR,
        )


if __name__ == "__main__":
    main_for(run)
