"""The signals of the LTI provider: one the host sends, one it may receive."""

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

#: Sent by the LTI provider (sender ``LtiConsumer``) when an LTI 1.1 launch
#: succeeded: the learner is logged in and the content is about to be shown
#: (the original's ``LTI_PROVIDER_LAUNCH_SUCCESS`` event).
#:
#: Keyword arguments:
#:   ``request``: the launch's (or, after a login, the resume's) request.
#:   ``user``: the learner's account; ``lti_user``: their ``LtiUser``.
#:   ``course_key``, ``usage_key``: what was launched.
#:   ``launch_params`` (dict): ``user_id``, ``roles``, ``context_id``,
#:   ``resource_link_id``, ``tool_consumer_instance_guid``, and the
#:   parameters named in ``settings.LTI_CUSTOM_PARAMS`` that the launch sent.
#:
#: A receiver that raises is logged; the learner still gets the content.
launch_success = Signal()
