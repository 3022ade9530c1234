"""factory-boy factories shared by the suites."""

import datetime

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from lti_provider.models import GradedAssignment, LtiConsumer, LtiUser, OutcomeService
from verify_student.models import (
    SoftwareSecurePhotoVerification,
    VerificationCheckpoint,
    VerificationDeadline,
)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"learner{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = "Ada"
    last_name = factory.Sequence(lambda n: f"Lovelace{n}")
    password = factory.django.Password("password")
    is_active = True


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True


class SoftwareSecurePhotoVerificationFactory(DjangoModelFactory):
    class Meta:
        model = SoftwareSecurePhotoVerification

    user = factory.SubFactory(UserFactory)
    status = "created"
    name = factory.LazyAttribute(lambda o: o.user.get_full_name())


class VerificationDeadlineFactory(DjangoModelFactory):
    class Meta:
        model = VerificationDeadline

    course_key = factory.Sequence(lambda n: f"course-v1:Org+Course{n}+Run")
    deadline = factory.Faker("future_datetime", tzinfo=datetime.UTC)


class VerificationCheckpointFactory(DjangoModelFactory):
    class Meta:
        model = VerificationCheckpoint

    course_id = "course-v1:Org+Course+Run"
    checkpoint_location = factory.Sequence(
        lambda n: f"block-v1:Org+Course+Run+type@edx-reverification-block+block@c{n}"
    )


class LtiConsumerFactory(DjangoModelFactory):
    class Meta:
        model = LtiConsumer

    consumer_name = factory.Sequence(lambda n: f"Consumer {n}")
    consumer_key = factory.Sequence(lambda n: f"key{n}")
    # Recognised by tests/log_guard.py ("consumer-secret"): a leak fails the test.
    consumer_secret = factory.Sequence(lambda n: f"consumer-secret-{n}")
    instance_guid = factory.Sequence(lambda n: f"guid-{n}")
    require_user_account = False


class LtiUserFactory(DjangoModelFactory):
    class Meta:
        model = LtiUser

    lti_consumer = factory.SubFactory(LtiConsumerFactory)
    lti_user_id = factory.Sequence(lambda n: f"lti-user-{n}")
    edx_user = factory.SubFactory(UserFactory)


class OutcomeServiceFactory(DjangoModelFactory):
    class Meta:
        model = OutcomeService

    lis_outcome_service_url = factory.Sequence(
        lambda n: f"https://consumer.example.com/outcomes/{n}"
    )
    lti_consumer = factory.SubFactory(LtiConsumerFactory)


class GradedAssignmentFactory(DjangoModelFactory):
    class Meta:
        model = GradedAssignment

    user = factory.SubFactory(UserFactory)
    course_key = "course-v1:Org+Course+Run"
    usage_key = "block-v1:Org+Course+Run+type@problem+block@p1"
    outcome_service = factory.SubFactory(OutcomeServiceFactory)
    lis_result_sourcedid = factory.Sequence(lambda n: f"sourcedid-{n}")
