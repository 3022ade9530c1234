"""``lti_provider.replay``: spent nonces in a table, spent once, swept once expired."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone
from freezegun import freeze_time

from lti_provider import replay
from lti_provider.models import SpentNonce

pytestmark = pytest.mark.django_db


def test_a_nonce_is_spent_once():
    digest = replay.nonce_digest("lti1.1", "key", "nonce", "1700000000")
    assert replay.spend(digest, 600) is True
    assert replay.spend(digest, 600) is False
    assert SpentNonce.objects.count() == 1


def test_the_digest_separates_its_parts_and_versions():
    digests = {
        replay.nonce_digest("lti1.1", "ab", "c"),
        replay.nonce_digest("lti1.1", "a", "bc"),
        replay.nonce_digest("lti1.3", "ab", "c"),
    }
    assert len(digests) == 3
    assert all(len(d) == 64 for d in digests)


def test_an_expired_nonce_not_yet_swept_can_be_spent_again():
    digest = replay.nonce_digest("lti1.3", "iss", "client", "n")
    with freeze_time("2030-01-01 00:00:00"):
        assert replay.spend(digest, 600)
    with freeze_time("2030-01-01 00:09:59"):
        assert not replay.spend(digest, 600)
    with freeze_time("2030-01-01 00:10:00"):
        assert replay.spend(digest, 600)
        assert SpentNonce.objects.get().expires_at == timezone.now() + dt.timedelta(seconds=600)
    with freeze_time("2030-01-01 00:15:00"):
        assert not replay.spend(digest, 600)


def test_a_refused_spend_inside_a_transaction_leaves_it_usable():
    digest = replay.nonce_digest("lti1.1", "k", "n", "1")
    with transaction.atomic():
        assert replay.spend(digest, 60)
        assert not replay.spend(digest, 60)
        assert SpentNonce.objects.count() == 1  # the transaction still answers


def test_every_hundredth_insert_sweeps_the_expired_rows(monkeypatch):
    with freeze_time("2030-01-01 00:00:00"):
        for i in range(5):
            replay.spend(replay.nonce_digest("old", str(i)), 60)
    with freeze_time("2030-01-01 01:00:00"):
        latest = SpentNonce.objects.order_by("pk").last()
        assert latest is not None
        # The next insert's id is a multiple of SWEEP_EVERY.
        monkeypatch.setattr(replay, "SWEEP_EVERY", latest.pk + 1)
        replay.spend(replay.nonce_digest("new", "0"), 60)
        assert list(SpentNonce.objects.values_list("digest", flat=True)) == [
            replay.nonce_digest("new", "0")
        ]


def test_an_insert_that_is_not_the_hundredth_sweeps_nothing(monkeypatch):
    with freeze_time("2030-01-01 00:00:00"):
        replay.spend(replay.nonce_digest("old", "0"), 60)
    monkeypatch.setattr(replay, "SWEEP_EVERY", 10**9)
    with freeze_time("2030-01-01 01:00:00"):
        replay.spend(replay.nonce_digest("new", "0"), 60)
    assert SpentNonce.objects.count() == 2


def test_sweep_expired_deletes_only_expired_rows():
    with freeze_time("2030-01-01 00:00:00"):
        replay.spend(replay.nonce_digest("a"), 60)
        replay.spend(replay.nonce_digest("b"), 600)
    with freeze_time("2030-01-01 00:05:00"):
        assert replay.sweep_expired() == 1
    assert SpentNonce.objects.get().digest == replay.nonce_digest("b")
