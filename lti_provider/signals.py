"""The signal a host sends when a learner's score on a block changes."""

from django.dispatch import Signal

#: Sent by the host LMS when a learner's weighted score on a block changes;
#: the LTI provider then sends the new score to every consumer expecting it.
#:
#: Keyword arguments:
#:   ``user_id`` (int): the learner's ``User`` id.
#:   ``course_id`` (str or ``CourseKey``): the course of the block.
#:   ``usage_id`` (str or ``UsageKey``): the block whose score changed.
#:   ``weighted_earned`` (number): points earned on the block.
#:   ``weighted_possible`` (number): points possible on the block (0 sends 0).
#:
#: Send it inside the transaction that stores the score: the passback is
#: queued only once that transaction commits.
score_changed = Signal()
