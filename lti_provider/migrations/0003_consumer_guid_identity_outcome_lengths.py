"""The key picks the consumer; the instance guid joins the identity; outcomes per consumer.

Existing rows:

* ``LtiConsumer.instance_guid`` stays as recorded, no longer unique: several
  keys may serve one LMS installation.
* ``LtiUser.instance_guid`` is NULL for every existing identity ("recorded
  before the guid was part of the identity"). Its next launch records the
  guid it comes with, so each existing learner keeps logging in to the same
  account; identities made from now on carry their guid ("" when none is sent).
* ``OutcomeService`` is unique per consumer and URL instead of per URL; URLs
  may be 1023 characters long.
* ``GradedAssignment`` keeps only the latest sourcedid per resource link and
  identity from now on. Existing rows know neither, so of the rows of one
  outcome service, learner and block only the newest is kept: the older ones
  hold sourcedids the consumer has replaced, and each would send its own
  ``replaceResult`` for one score. Their ``lti_user`` stays empty until the
  learner launches the block again.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Max

import lti_provider.models

_GROUP = ("outcome_service_id", "user_id", "course_key", "usage_key")


def keep_newest_legacy_assignment(apps, schema_editor):
    assignments = apps.get_model("lti_provider", "GradedAssignment")._default_manager
    legacy = assignments.using(schema_editor.connection.alias).filter(lti_user__isnull=True)
    groups = (
        legacy.order_by()
        .values(*_GROUP)
        .annotate(rows=Count("id"), newest=Max("id"))
        .filter(rows__gt=1)
    )
    for group in list(groups.iterator()):
        legacy.filter(**{name: group[name] for name in _GROUP}, id__lt=group["newest"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("lti_provider", "0002_lti13_registration"),
    ]

    operations = [
        # Consumers: the guid is information, not a key.
        migrations.AlterField(
            model_name="lticonsumer",
            name="instance_guid",
            field=lti_provider.models.CharNullField(
                blank=True,
                help_text="The first tool_consumer_instance_guid this consumer launched with (for information: the key that signs a launch picks the consumer, and several consumers may share one LMS installation).",
                max_length=255,
                null=True,
            ),
        ),
        # Identities: existing rows get NULL (legacy), new ones default to "".
        migrations.AddField(
            model_name="ltiuser",
            name="instance_guid",
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
        migrations.AlterField(
            model_name="ltiuser",
            name="instance_guid",
            field=models.CharField(blank=True, default="", max_length=255, null=True),
        ),
        migrations.AlterUniqueTogether(
            name="ltiuser",
            unique_together=set(),
        ),
        migrations.AddConstraint(
            model_name="ltiuser",
            constraint=models.UniqueConstraint(
                fields=("lti_consumer", "instance_guid", "lti_user_id"),
                name="lti_user_consumer_guid_user_id",
            ),
        ),
        migrations.AddConstraint(
            model_name="ltiuser",
            constraint=models.UniqueConstraint(
                condition=models.Q(("instance_guid__isnull", True)),
                fields=("lti_consumer", "lti_user_id"),
                name="lti_user_legacy_consumer_user_id",
            ),
        ),
        # Outcome services: per consumer and URL, URLs up to 1023 characters.
        migrations.AlterField(
            model_name="outcomeservice",
            name="lis_outcome_service_url",
            field=models.CharField(max_length=1023),
        ),
        migrations.AddConstraint(
            model_name="outcomeservice",
            constraint=models.UniqueConstraint(
                fields=("lti_consumer", "lis_outcome_service_url"),
                name="lti_outcome_service_consumer_url",
            ),
        ),
        # Graded assignments: one per identity and resource link, long sourcedids.
        migrations.AlterUniqueTogether(
            name="gradedassignment",
            unique_together=set(),
        ),
        migrations.AlterField(
            model_name="gradedassignment",
            name="lis_result_sourcedid",
            field=models.CharField(max_length=4096),
        ),
        migrations.AddField(
            model_name="gradedassignment",
            name="lti_user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="lti_provider.ltiuser",
            ),
        ),
        migrations.AddField(
            model_name="gradedassignment",
            name="resource_link_id",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.RunPython(keep_newest_legacy_assignment, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="gradedassignment",
            constraint=models.UniqueConstraint(
                fields=("lti_user", "resource_link_id"), name="lti_graded_assignment_link_user"
            ),
        ),
    ]
