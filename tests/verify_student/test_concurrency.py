"""Row locking of transitions, on PostgreSQL with real concurrent connections."""

import threading

import pytest
from django.db import connections, transaction

from tests.factories import SoftwareSecurePhotoVerificationFactory, StaffFactory
from tests.verify_student.conftest import waiting_on_a_lock
from verify_student.models import SoftwareSecurePhotoVerification as Attempt

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_thread(target):
    errors = []

    def run():
        try:
            target()
        except Exception as exc:  # reported to the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_second_review_waits_for_the_first_and_sees_its_decision():
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    first, second = StaffFactory(), StaffFactory()
    holding = threading.Event()
    release = threading.Event()

    def first_review():
        with transaction.atomic():
            Attempt.objects.get(pk=attempt.pk).approve(user_id=first)
            holding.set()
            assert release.wait(30)

    def second_review():
        Attempt.objects.get(pk=attempt.pk).approve(user_id=second)

    thread_a, errors_a = in_thread(first_review)
    assert holding.wait(30)
    thread_b, errors_b = in_thread(second_review)
    # The second reviewer is blocked on the row lock while the first holds it.
    for _ in range(3000):
        if waiting_on_a_lock():
            break
        threading.Event().wait(0.01)
    assert waiting_on_a_lock() == 1
    release.set()
    thread_a.join(30)
    thread_b.join(30)
    assert errors_a == errors_b == []

    final = Attempt.objects.get(pk=attempt.pk)
    assert (final.status, final.reviewing_user_id) == ("approved", first.pk)
    approvals = final.history.filter(status="approved").count()
    assert approvals == 1


def test_twenty_concurrent_reviews_end_in_one_consistent_decision():
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    reviewers = [StaffFactory() for _ in range(20)]
    barrier = threading.Barrier(20)

    def review(index, reviewer):
        def run():
            barrier.wait(30)
            mine = Attempt.objects.get(pk=attempt.pk)
            if index % 2:
                mine.approve(user_id=reviewer)
            else:
                mine.deny(f"denied by {index}", error_code=str(index), reviewing_user=reviewer)

        return run

    threads = [in_thread(review(i, r)) for i, r in enumerate(reviewers)]
    for thread, _errors in threads:
        thread.join(60)
    assert [e for _t, errors in threads for e in errors] == []

    final = Attempt.objects.get(pk=attempt.pk)
    last = final.history.order_by("-history_id").first()
    # The row equals the last change made under the lock, field for field.
    assert (final.status, final.reviewing_user_id, final.error_msg, final.error_code) == (
        last.status,
        last.reviewing_user_id,
        last.error_msg,
        last.error_code,
    )
    if final.status == "approved":
        assert (final.error_msg, final.error_code) == ("", "")
    else:
        assert final.error_msg == f"denied by {final.error_code}"


def test_concurrent_submissions_of_one_learner_make_one_attempt_and_store_its_photos_only(
    s3_photos, reviewer
):
    """The second submission waits for the first (the learner's row is locked), then is 409."""
    from tests.factories import UserFactory
    from verify_student import api
    from verify_student.exceptions import AttemptInProgressError

    learner = UserFactory()
    face, photo_id = b"\x89PNG\r\n\x1a\n" + b"f" * 400, b"\xff\xd8\xff\xe0" + b"i" * 400
    count = 6
    barrier = threading.Barrier(count)
    made, refused, errors = [], [], []

    def submit():
        try:
            barrier.wait(30)
            made.append(api.submit_verification(learner, face, photo_id).receipt_id)
        except AttemptInProgressError:
            refused.append(True)
        except Exception as exc:  # reported to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert (len(made), len(refused)) == (1, count - 1)
    [receipt_id] = made
    assert list(Attempt.objects.values_list("receipt_id", flat=True)) == [receipt_id]
    assert s3_photos.object_keys() == [f"face/{receipt_id}", f"photo_id/{receipt_id}"]
