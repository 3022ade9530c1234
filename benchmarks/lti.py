"""LTI 1.1 launch of a known user against a bare view that only logs a user in.

Bars: the launch (signature check, nonce store, user lookup, login, default
page) takes <= 1.3x the time of a bare view that calls ``login()`` for a
prefetched user, and runs no more queries than the bare view + 3.

Setup: SQLite file database, database sessions, spent nonces in the
database (``SpentNonce``), a fresh ``django.test.Client`` per request (a new
session each time, as a learner arriving from the consumer). Every launch
body is signed beforehand by oauthlib's ``Client`` (HMAC-SHA1, distinct
nonces): signing time is excluded from both sides. The bare view receives
the same signed body, unread.

A second figure prints what the nonce store costs a launch: spending one
nonce in the table (an autocommitted insert, as a launch does) beside the
``cache.add`` on the local-memory cache that held spent nonces before (and
that anonymous traffic could evict). Context for the launch figure, which
includes the insert; its bar only asks that the insert stays a small part
of a launch.
"""

from __future__ import annotations

from urllib.parse import urlencode

from benchmarks.common import count_queries, figure, fmt_ms, interleaved, main_for, use_database

AREA = "lti launch"
COURSE_ID = "course-v1:Org+Course+Run"
USAGE_ID = "block-v1:Org+Course+Run+type@problem+block@p1"
FORM = "application/x-www-form-urlencoded"
LAUNCHES_PER_SAMPLE = 20
ROUNDS = 31
BAR_TIME = 1.3
BAR_EXTRA_QUERIES = 3
SPENDS_PER_SAMPLE = 200
#: The nonce insert may take at most this share of a launch.
BAR_STORE_SHARE = 0.25


def signed_bodies(url: str, key: str, secret: str, count: int) -> list[str]:
    from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY, Client

    params = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": "resource-1",
        "context_id": "context-1",
        "user_id": "known-learner",
        "roles": "Learner",
        "lis_person_contact_email_primary": "known@example.com",
    }
    client = Client(
        key,
        client_secret=secret,
        signature_type=SIGNATURE_TYPE_BODY,
        signature_method=SIGNATURE_HMAC_SHA1,
    )
    bodies = []
    for _ in range(count):
        _uri, _headers, body = client.sign(
            url, http_method="POST", body=urlencode(params), headers={"Content-Type": FORM}
        )
        bodies.append(body)
    return bodies


def run(db: str) -> None:
    with use_database("sqlite", "verify_lti_bench_lti") as label:
        from django.contrib.auth import get_user_model
        from django.test import Client
        from django.urls import reverse

        from benchmarks import urls
        from lti_provider.models import LtiConsumer, LtiUser

        consumer = LtiConsumer.objects.create(
            consumer_name="Bench LMS", consumer_key="bench-key", consumer_secret="bench-secret"
        )
        learner = get_user_model().objects.create_user("known", "known@example.com")
        LtiUser.objects.create(lti_consumer=consumer, lti_user_id="known-learner", edx_user=learner)
        for i in range(200):  # other consumers and learners, so lookups are not trivial
            other = LtiConsumer.objects.create(
                consumer_name=f"LMS {i}", consumer_key=f"key-{i}", consumer_secret=f"s-{i}"
            )
            some = get_user_model().objects.create_user(f"other{i}")
            LtiUser.objects.create(lti_consumer=other, lti_user_id="known-learner", edx_user=some)
        urls.PREFETCHED["user"] = get_user_model().objects.get(pk=learner.pk)

        path = reverse("lti_provider_launch", args=[COURSE_ID, USAGE_ID])
        total = (ROUNDS + 2) * LAUNCHES_PER_SAMPLE + 2
        url = f"https://testserver{path}"
        bodies = iter(signed_bodies(url, "bench-key", "bench-secret", total))
        bare_body = next(bodies)

        def launch() -> object:
            response = Client().post(path, next(bodies), content_type=FORM, secure=True)
            assert response.status_code == 200, response.status_code
            return response

        def bare() -> object:
            response = Client().post("/bench/bare-login", bare_body, content_type=FORM, secure=True)
            assert response.status_code == 200, response.status_code
            return response

        for _ in range(LAUNCHES_PER_SAMPLE):  # warm both paths (templates, imports)
            launch()
            bare()
        with count_queries() as launch_queries:
            launched = launch()
        session = launched.client.session  # type: ignore[attr-defined]
        assert session.get("_auth_user_id") == str(learner.pk)
        with count_queries() as bare_queries:
            bare()

        def batch(fn: object) -> None:
            for _ in range(LAUNCHES_PER_SAMPLE):
                fn()  # type: ignore[operator]

        medians = interleaved(
            {"LTI launch": lambda: batch(launch), "bare login view": lambda: batch(bare)}, ROUNDS
        )
        ratio = medians["LTI launch"] / medians["bare login view"]
        n_launch, n_bare = len(launch_queries), len(bare_queries)
        figure(
            AREA,
            "known-user LTI 1.1 launch vs a bare login() view",
            setup=(
                f"{label}, database sessions, spent nonces in the database, a fresh test "
                "client per request; bodies pre-signed by oauthlib's Client (signing excluded "
                f"on both sides); {LAUNCHES_PER_SAMPLE} requests per sample, {ROUNDS} interleaved "
                "rounds, medians"
            ),
            values={
                "LTI launch, per request": fmt_ms(medians["LTI launch"] / LAUNCHES_PER_SAMPLE)
                + f"  ({n_launch} queries)",
                "bare login view, per request": fmt_ms(
                    medians["bare login view"] / LAUNCHES_PER_SAMPLE
                )
                + f"  ({n_bare} queries)",
                "launch queries": " | ".join(q[:40] for q in launch_queries),
                "bare view queries": " | ".join(q[:40] for q in bare_queries),
            },
            ratio=ratio,
            bar=f"<= {BAR_TIME}x the time, and queries <= bare + {BAR_EXTRA_QUERIES}",
            passed=ratio <= BAR_TIME and n_launch <= n_bare + BAR_EXTRA_QUERIES,
        )
        nonce_store_figure(label, medians["LTI launch"] / LAUNCHES_PER_SAMPLE)


def nonce_store_figure(label: str, launch_seconds: float) -> None:
    """What spending a nonce costs: the table insert beside the cache ``add`` it replaced."""
    import itertools

    from django.core.cache import caches

    from lti_provider import replay

    counter = itertools.count()
    cache = caches["default"]

    def spend_in_table() -> None:
        for _ in range(SPENDS_PER_SAMPLE):
            assert replay.spend(replay.nonce_digest("bench", str(next(counter))), 600)

    def add_to_cache() -> None:
        for _ in range(SPENDS_PER_SAMPLE):
            assert cache.add(f"bench:nonce:{next(counter)}", 1, timeout=600)

    spend_in_table()  # warm both (statements prepared, imports)
    add_to_cache()
    medians = interleaved(
        {"table": spend_in_table, "cache": add_to_cache}, ROUNDS, before_each=cache.clear
    )
    table, cached = (medians[k] / SPENDS_PER_SAMPLE for k in ("table", "cache"))
    share = table / launch_seconds
    figure(
        AREA,
        "the nonce store: a SpentNonce insert vs the LocMemCache add it replaced",
        setup=(
            f"{label}, autocommit (as a launch spends its nonce), distinct nonces, "
            f"{SPENDS_PER_SAMPLE} spends per sample, {ROUNDS} interleaved rounds, medians; "
            "the table sweeps its expired rows every 100th insert, included"
        ),
        values={
            "SpentNonce insert, per nonce": fmt_ms(table),
            "LocMemCache add (before), per nonce": fmt_ms(cached),
            "known-user launch (above), per request": fmt_ms(launch_seconds),
            "the insert's share of a launch": f"{share:.1%}",
        },
        ratio=table / cached,
        bar=f"context (insert / cache add); the insert <= {BAR_STORE_SHARE:.0%} of a launch",
        passed=share <= BAR_STORE_SHARE,
    )


if __name__ == "__main__":
    main_for(run, choices=("sqlite",))
