"""``verify_student.replay``: the verdicts applied, remembered in a table until they expire."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.core.cache import caches
from django.db import OperationalError, transaction
from django.test import Client
from freezegun import freeze_time

from tests.factories import SoftwareSecurePhotoVerificationFactory, StaffFactory
from tests.security.helpers import post_callback, signed_callback_headers, snapshot
from verify_student import api, replay
from verify_student.models import AppliedResultsCallback

pytestmark = pytest.mark.django_db


def verdict(attempt, result="PASS"):
    return {"EdX-ID": attempt.receipt_id, "Result": result, "Reason": "", "MessageType": ""}


def test_a_verdict_is_remembered_once():
    digest = replay.callback_digest("KEY", "c2lnbmF0dXJl")
    with transaction.atomic():
        replay.remember(digest, 7200)
    with pytest.raises(replay.AlreadyApplied), transaction.atomic():
        replay.remember(digest, 7200)
    assert AppliedResultsCallback.objects.count() == 1


def test_a_verdict_is_remembered_twice_the_callback_window(client):
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    with freeze_time("2030-01-01 00:00:00"):
        body = verdict(attempt)
        assert post_callback(Client(), json.dumps(body), **signed_callback_headers(body)).content
        row = AppliedResultsCallback.objects.get()
    assert row.expires_at.isoformat() == "2030-01-01T02:00:00+00:00"  # 2 x 3600 s


def test_the_memory_does_not_live_in_the_cache():
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    body = verdict(attempt)
    headers = signed_callback_headers(body)
    assert post_callback(Client(), json.dumps(body), **headers).content == b"OK!"
    api.review_attempt(attempt, "deny", StaffFactory(), "Not the learner.")
    caches["default"].clear()
    assert post_callback(Client(), json.dumps(body), **headers).content == b"OK!"
    attempt.refresh_from_db()
    assert attempt.status == "denied"


def test_a_refused_verdict_is_not_remembered():
    attempt = SoftwareSecurePhotoVerificationFactory(status="created")  # not awaiting review
    body = verdict(attempt)
    response = post_callback(Client(), json.dumps(body), **signed_callback_headers(body))
    assert response.status_code == 400
    assert not AppliedResultsCallback.objects.exists()


def test_the_memory_fails_closed():
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    body = verdict(attempt)
    before = snapshot()
    with mock.patch.object(
        AppliedResultsCallback.objects, "create", side_effect=OperationalError("database down")
    ):
        response = post_callback(Client(), json.dumps(body), **signed_callback_headers(body))
    assert response.status_code == 503
    assert b"send it again later" in response.content
    assert snapshot() == before


def test_expired_rows_are_swept_by_every_hundredth_insert(monkeypatch):
    with freeze_time("2030-01-01 00:00:00"), transaction.atomic():
        replay.remember(replay.callback_digest("K", "old"), 60)
    monkeypatch.setattr(replay, "SWEEP_EVERY", 1)
    with freeze_time("2030-01-01 01:00:00"), transaction.atomic():
        replay.remember(replay.callback_digest("K", "new"), 60)
    assert list(AppliedResultsCallback.objects.values_list("digest", flat=True)) == [
        replay.callback_digest("K", "new")
    ]


def test_a_row_not_yet_swept_still_counts_as_applied():
    """Harmless: by its expiry the verdict's Date is outside the window (refused first)."""
    digest = replay.callback_digest("K", "sig")
    with freeze_time("2030-01-01 00:00:00"), transaction.atomic():
        replay.remember(digest, 60)
    with freeze_time("2030-01-01 00:01:00"), pytest.raises(replay.AlreadyApplied):
        replay.remember(digest, 60)


def test_a_verdict_past_the_window_is_refused_before_the_memory(client):
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    body = verdict(attempt)
    with freeze_time("2030-01-01 00:00:00"):
        headers = signed_callback_headers(body)
    with freeze_time("2030-01-01 01:00:01"):  # CALLBACK_MAX_AGE is 3600 s
        response = post_callback(Client(), json.dumps(body), **headers)
    assert response.status_code == 400
    assert not AppliedResultsCallback.objects.exists()
