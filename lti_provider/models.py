"""Models of the LTI tool provider.

An ``LtiConsumer`` is a platform (Canvas, Moodle, Blackboard...) allowed to
launch our content, with its OAuth1 key and secret. ``LtiUser`` maps an LTI
identity (consumer + LTI ``user_id``) to a local account; many LTI identities
may map to one account, so one learner can come from several consumers.
``OutcomeService`` and ``GradedAssignment`` record where to send a learner's
score for a launched block (LTI Basic Outcomes).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from opaque_keys.edx.django.models import CourseKeyField, UsageKeyField


def short_token() -> str:
    """32 random hex characters (a consumer key or secret)."""
    return secrets.token_hex(16)


class CharNullField(models.CharField):
    """A CharField that stores an empty value as NULL, so ``unique`` allows many blanks."""

    description = "CharField that stores NULL for empty strings"

    def get_prep_value(self, value: object) -> object:
        value = super().get_prep_value(value)
        return None if value == "" else value

    def to_python(self, value: object) -> object:
        value = super().to_python(value)
        return None if value == "" else value


class LtiConsumer(models.Model):
    """An LTI consumer: its OAuth key/secret pair and settings."""

    consumer_name = models.CharField(max_length=255, unique=True)
    consumer_key = models.CharField(max_length=32, unique=True, db_index=True, default=short_token)
    consumer_secret = models.CharField(max_length=32, unique=True, default=short_token)
    instance_guid = CharNullField(max_length=255, blank=True, null=True, unique=True)
    require_user_account = models.BooleanField(
        blank=True,
        default=False,
        help_text=_(
            "When checked, the LTI content will load only for learners who have an account "
            "in this instance. This is required only for linking learner accounts with "
            "the LTI consumer. See the Open edX LTI Provider documentation for more details."
        ),
    )

    class Meta:
        verbose_name = "LTI consumer"

    def __str__(self) -> str:
        return self.consumer_name

    @staticmethod
    def get_or_supplement(instance_guid: str | None, consumer_key: str) -> LtiConsumer:
        """Find the consumer by ``instance_guid``, else by ``consumer_key``.

        ``instance_guid`` is optional in LTI launches; when a consumer found
        by key launches with one for the first time, it is recorded.
        Raises ``LtiConsumer.DoesNotExist`` when neither matches.
        """
        consumer = None
        if instance_guid:
            consumer = LtiConsumer.objects.filter(instance_guid=instance_guid).first()
        if consumer is None:
            consumer = LtiConsumer.objects.get(consumer_key=consumer_key)
        if instance_guid and not consumer.instance_guid:
            consumer.instance_guid = instance_guid
            consumer.save(update_fields=["instance_guid"])
        return consumer


class OutcomeService(models.Model):
    """An outcome service URL of a consumer (one consumer may use several over time)."""

    lis_outcome_service_url = models.CharField(max_length=255, unique=True)
    lti_consumer = models.ForeignKey(LtiConsumer, on_delete=models.CASCADE)

    class Meta:
        verbose_name = "outcome service"

    def __str__(self) -> str:
        return self.lis_outcome_service_url


class GradedAssignment(models.Model):
    """A launched block whose score the consumer wants back (``lis_result_sourcedid``).

    One row per (outcome service, sourcedid): relaunching does not add rows.
    ``version_number`` increases with each score sent, so a late, older
    score never overwrites a newer one.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, db_index=True, on_delete=models.CASCADE)
    course_key = CourseKeyField(max_length=255, db_index=True)
    usage_key = UsageKeyField(max_length=255, db_index=True)
    outcome_service = models.ForeignKey(OutcomeService, on_delete=models.CASCADE)
    lis_result_sourcedid = models.CharField(max_length=255, db_index=True)
    version_number = models.IntegerField(default=0)

    class Meta:
        unique_together = ("outcome_service", "lis_result_sourcedid")
        verbose_name = "graded assignment"

    def __str__(self) -> str:
        return f"{self.usage_key} for user {self.user_id}"


class LtiUser(models.Model):
    """Maps an LTI identity (consumer + LTI ``user_id``) to a local account."""

    lti_consumer = models.ForeignKey(LtiConsumer, on_delete=models.CASCADE)
    lti_user_id = models.CharField(max_length=255)
    edx_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)

    class Meta:
        unique_together = ("lti_consumer", "lti_user_id")
        verbose_name = "LTI user"

    def __str__(self) -> str:
        return f"{self.lti_user_id} from {self.lti_consumer_id} -> user {self.edx_user_id}"
