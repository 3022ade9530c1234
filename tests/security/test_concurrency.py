"""Races on PostgreSQL with real concurrent connections.

20 reviewers approving / denying one attempt end in one consistent decision:
tests/verify_student/test_concurrency.py::test_twenty_concurrent_reviews_end_in_one_consistent_decision
(and test_commands_races.py for the commands meeting a concurrent decision).
"""

from __future__ import annotations

import json
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from lti_provider import replay
from lti_provider.models import LtiUser, SpentNonce
from tests.factories import SoftwareSecurePhotoVerificationFactory
from tests.security.helpers import post_callback, post_launch, sign_launch, signed_callback_headers
from verify_student.models import AppliedResultsCallback, SoftwareSecurePhotoVerification

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 20


def run_together(work, arguments) -> tuple[list, list[BaseException]]:
    """Run ``work(argument)`` in one thread each, released together; what each returned."""
    arguments = list(arguments)
    barrier = threading.Barrier(len(arguments))
    statuses: list = []
    errors: list[BaseException] = []

    def run(argument) -> None:
        try:
            barrier.wait(timeout=30)
            statuses.append(work(argument))
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(a,)) for a in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return statuses, errors


def test_twenty_concurrent_first_launches_of_one_identity_make_one_lti_user(consumer):
    bodies = [sign_launch(consumer) for _ in range(THREADS)]  # distinct nonces
    statuses, errors = run_together(lambda body: post_launch(body).status_code, bodies)
    assert errors == []
    assert statuses == [200] * THREADS
    assert LtiUser.objects.filter(lti_consumer=consumer, lti_user_id="lti-learner-1").count() == 1
    # The losers' accounts went with their savepoints.
    assert get_user_model().objects.filter(email__endswith="@lti.example.com").count() == 1


def test_twenty_concurrent_callbacks_for_distinct_attempts_all_land():
    attempts = [SoftwareSecurePhotoVerificationFactory(status="submitted") for _ in range(THREADS)]
    verdicts = {a.receipt_id: ("PASS" if i % 2 else "FAIL") for i, a in enumerate(attempts)}

    def call_back(receipt_id: str) -> int:
        body = {
            "EdX-ID": receipt_id,
            "Result": verdicts[receipt_id],
            "Reason": "blurry" if verdicts[receipt_id] == "FAIL" else "",
            "MessageType": "",
        }
        return post_callback(
            Client(), json.dumps(body), **signed_callback_headers(body)
        ).status_code

    statuses, errors = run_together(call_back, list(verdicts))
    assert errors == []
    assert statuses == [200] * THREADS
    landed = dict(SoftwareSecurePhotoVerification.objects.values_list("receipt_id", "status"))
    expected = {r: ("approved" if v == "PASS" else "denied") for r, v in verdicts.items()}
    assert landed == expected


# -- the replay memories: one winner, whatever the number of processes -----------------------


def test_twenty_concurrent_replays_of_one_launch_let_exactly_one_through(consumer):
    body = sign_launch(consumer)
    statuses, errors = run_together(lambda _: post_launch(body).status_code, range(THREADS))
    assert errors == []
    assert sorted(statuses) == [200] + [403] * (THREADS - 1)
    assert SpentNonce.objects.count() == 1


def test_twenty_concurrent_deliveries_of_one_verdict_apply_it_once():
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    body = {"EdX-ID": attempt.receipt_id, "Result": "PASS", "Reason": "", "MessageType": ""}
    headers = signed_callback_headers(body)

    def deliver(_: int) -> int:
        response = post_callback(Client(), json.dumps(body), **headers)
        assert response.content == b"OK!"
        return response.status_code

    history_before = attempt.history.count()
    statuses, errors = run_together(deliver, range(THREADS))
    assert errors == []
    assert statuses == [200] * THREADS
    attempt.refresh_from_db()
    assert attempt.status == "approved"
    assert attempt.history.count() == history_before + 1  # one approval recorded
    assert AppliedResultsCallback.objects.count() == 1


def test_twenty_concurrent_spends_of_one_nonce_have_one_winner():
    digest = replay.nonce_digest("lti1.3", "https://platform.example.com", "client", "n-1")
    results, errors = run_together(lambda _: replay.spend(digest, 600), range(THREADS))
    assert errors == []
    assert sorted(results) == [False] * (THREADS - 1) + [True]
