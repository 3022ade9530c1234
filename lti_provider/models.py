"""Models of the LTI tool provider.

An ``LtiConsumer`` is a platform (Canvas, Moodle, Blackboard...) allowed to
launch our content, with its OAuth1 key and secret. ``LtiUser`` maps an LTI
identity (consumer + LTI ``user_id``) to a local account; many LTI identities
may map to one account, so one learner can come from several consumers.
``OutcomeService`` and ``GradedAssignment`` record where to send a learner's
score for a launched block (LTI Basic Outcomes).

The key that signs a launch picks the ``LtiConsumer``; the launch's
``tool_consumer_instance_guid`` names the LMS installation (tenant) the
learner comes from. It never picks a consumer: several keys may serve one
installation, and one key may serve several. An LTI identity is (consumer,
instance guid, LTI ``user_id``), so two installations sharing a key keep
their learners apart.

LTI 1.3: ``Lti13Registration`` is a platform and the tool's key pair; it owns
an ``LtiConsumer`` so its learners are ``LtiUser`` rows like 1.1 ones.
``Lti13GradedAssignment`` records an AGS line item to send scores to.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import FilteredRelation, Q
from django.utils.translation import gettext_lazy as _
from jwcrypto.jwk import JWK
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


class LtiConsumerQuerySet(models.QuerySet["LtiConsumer"]):
    def for_launch(
        self, consumer_key: str, lti_user_id: str = "", instance_guid: str = ""
    ) -> LtiConsumer | None:
        """The LTI 1.1 consumer with ``consumer_key``, or None, with the launch's learner.

        One query: with ``lti_user_id``, the consumer's ``LtiUser`` for it and
        ``instance_guid`` (or its legacy link, recorded before the guid was
        part of the identity) and that user's account are LEFT JOINed
        (``launch_lti_user``), and ``users.find_lti_user`` uses them instead
        of querying again. The consumer of an LTI 1.3 registration is never
        an LTI 1.1 consumer.
        """
        consumers: models.QuerySet[LtiConsumer, Any] = self.filter(
            consumer_key=consumer_key, lti13_registration__isnull=True
        )
        if lti_user_id:
            guid = Q(ltiuser__instance_guid=instance_guid) | Q(ltiuser__instance_guid__isnull=True)
            consumers = consumers.annotate(
                launch_lti_user=FilteredRelation(
                    "ltiuser", condition=Q(ltiuser__lti_user_id=lti_user_id) & guid
                )
            ).select_related("launch_lti_user__edx_user")  # type: ignore[misc]  # stubs miss FilteredRelation
        # consumer_key is unique; two rows only if the identity has both links.
        rows = list(consumers[:2])
        if not rows:
            return None
        consumer = min(rows, key=lambda row: _is_legacy(getattr(row, "launch_lti_user", None)))
        consumer.launch_lti_user_id = lti_user_id
        consumer.launch_instance_guid = instance_guid
        return consumer


def _is_legacy(lti_user: LtiUser | None) -> bool:
    return lti_user is not None and lti_user.instance_guid is None


class LtiConsumer(models.Model):
    """An LTI consumer: its OAuth key/secret pair and settings."""

    consumer_name = models.CharField(max_length=255, unique=True)
    consumer_key = models.CharField(max_length=32, unique=True, db_index=True, default=short_token)
    consumer_secret = models.CharField(max_length=32, unique=True, default=short_token)
    instance_guid = CharNullField(
        max_length=255,
        blank=True,
        null=True,
        help_text=_(
            "The first tool_consumer_instance_guid this consumer launched with (for "
            "information: the key that signs a launch picks the consumer, and several "
            "consumers may share one LMS installation)."
        ),
    )
    require_user_account = models.BooleanField(
        blank=True,
        default=False,
        help_text=_(
            "When checked, the LTI content will load only for learners who have an account "
            "in this instance. This is required only for linking learner accounts with "
            "the LTI consumer. See the Open edX LTI Provider documentation for more details."
        ),
    )

    objects = LtiConsumerQuerySet.as_manager()
    #: The LTI user_id and instance guid whose link ``for_launch`` read with the consumer.
    launch_lti_user_id = ""
    launch_instance_guid = ""

    class Meta:
        verbose_name = _("LTI consumer")

    def __str__(self) -> str:
        return self.consumer_name

    @staticmethod
    def get_or_supplement(instance_guid: str | None, consumer_key: str) -> LtiConsumer:
        """The consumer whose key is ``consumer_key``; record ``instance_guid`` if it has none.

        The key alone picks the consumer: a guid names an LMS installation,
        which several consumers (keys) may share, so a guid another consumer
        recorded changes nothing for it. Raises ``LtiConsumer.DoesNotExist``
        for an unknown key.
        """
        consumer = LtiConsumer.objects.get(consumer_key=consumer_key)
        consumer.supplement_instance_guid(instance_guid)
        return consumer

    def supplement_instance_guid(self, instance_guid: str | None) -> None:
        """Record ``instance_guid`` as this consumer's first guid, if none is recorded."""
        if instance_guid and not self.instance_guid:
            self.instance_guid = instance_guid
            self.save(update_fields=["instance_guid"])


#: The longest ``lis_outcome_service_url`` (the LTI 1.1 implementation guide's bound).
MAX_OUTCOME_URL_LENGTH = 1023
#: The longest ``lis_result_sourcedid`` kept. The specification sets no bound;
#: real ones (Moodle's JSON and hash, Open edX's quoted course, block and user)
#: run to a few hundred characters.
MAX_SOURCEDID_LENGTH = 4096


class OutcomeService(models.Model):
    """An outcome service URL of a consumer (one consumer may use several over time).

    Unique per consumer and URL: consumers of one LMS share its service URL
    (Moodle has one, ``/mod/lti/service.php``), each with its own row, so
    none can take another's.
    """

    lis_outcome_service_url = models.CharField(max_length=MAX_OUTCOME_URL_LENGTH)
    lti_consumer = models.ForeignKey(LtiConsumer, on_delete=models.CASCADE)

    class Meta:
        verbose_name = _("outcome service")
        constraints = [
            models.UniqueConstraint(
                fields=["lti_consumer", "lis_outcome_service_url"],
                name="lti_outcome_service_consumer_url",
            )
        ]

    def __str__(self) -> str:
        return self.lis_outcome_service_url


class GradedAssignment(models.Model):
    """A launched block whose score the consumer wants back (``lis_result_sourcedid``).

    One row per LTI identity and resource link: the consumer may send a new
    sourcedid at each launch (Moodle does), and only the latest is kept and
    used, so one score is one ``replaceResult``. Rows recorded before the
    resource link was kept have no ``lti_user``. ``version_number`` increases
    with each score sent, so a late, older score never overwrites a newer one.
    """

    #: What a passback reads with the row (``outcomes.current_assignment``).
    passback_related = ("outcome_service__lti_consumer",)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, db_index=True, on_delete=models.CASCADE)
    course_key = CourseKeyField(max_length=255, db_index=True)
    usage_key = UsageKeyField(max_length=255, db_index=True)
    outcome_service = models.ForeignKey(OutcomeService, on_delete=models.CASCADE)
    lis_result_sourcedid = models.CharField(max_length=MAX_SOURCEDID_LENGTH)
    version_number = models.IntegerField(default=0)
    #: The launch's identity and ``resource_link_id``: the row's key.
    lti_user = models.ForeignKey(
        "LtiUser", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    resource_link_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        verbose_name = _("graded assignment")
        constraints = [
            models.UniqueConstraint(
                fields=["lti_user", "resource_link_id"], name="lti_graded_assignment_link_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.usage_key} for user {self.user_id}"


class LtiUser(models.Model):
    """Maps an LTI identity (consumer + instance guid + LTI ``user_id``) to a local account.

    ``instance_guid`` is the launch's ``tool_consumer_instance_guid`` ("" when
    it sends none). NULL marks an identity recorded before the guid was part
    of it: its next launch records the guid it comes with (``users``), so
    existing learners keep their accounts.
    """

    lti_consumer = models.ForeignKey(LtiConsumer, on_delete=models.CASCADE)
    lti_user_id = models.CharField(max_length=255)
    instance_guid = models.CharField(max_length=255, null=True, blank=True, default="")
    edx_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)

    class Meta:
        verbose_name = _("LTI user")
        constraints = [
            models.UniqueConstraint(
                fields=["lti_consumer", "instance_guid", "lti_user_id"],
                name="lti_user_consumer_guid_user_id",
            ),
            # NULLs are distinct in unique indexes: one legacy row per identity.
            models.UniqueConstraint(
                fields=["lti_consumer", "lti_user_id"],
                condition=Q(instance_guid__isnull=True),
                name="lti_user_legacy_consumer_user_id",
            ),
        ]

    def __str__(self) -> str:
        guid = f"@{self.instance_guid}" if self.instance_guid else ""
        return f"{self.lti_user_id}{guid} from {self.lti_consumer_id} -> user {self.edx_user_id}"


# --- LTI 1.3 (LTI Advantage) ----------------------------------------------------------


def _generate_tool_key() -> tuple[str, str, str]:
    """A new RSA key pair for the tool: (private PEM, public PEM, RFC 7638 thumbprint)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem, JWK.from_pem(public_pem.encode()).thumbprint()


class Lti13Registration(models.Model):
    """A platform registered to launch our content over LTI 1.3, and the tool's key pair.

    Each registration owns one ``LtiConsumer`` row (made on creation): LTI 1.3
    identities (``sub``) are ``LtiUser`` rows of that consumer, so the same
    user service links and logs in learners of both LTI versions. The
    consumer's name and ``require_user_account`` follow the registration's.
    The tool's RSA key pair is generated on creation; the private key never
    leaves the server except as signatures.
    """

    name = models.CharField(max_length=255, unique=True)
    issuer = models.CharField(
        max_length=255, help_text=_("The platform's issuer (the 'iss' of its id_tokens).")
    )
    client_id = models.CharField(
        max_length=255, help_text=_("The client id the platform gave this tool.")
    )
    auth_login_url = models.URLField(
        max_length=1024, help_text=_("The platform's OIDC authorization (auth login) URL.")
    )
    auth_token_url = models.URLField(
        max_length=1024, help_text=_("The platform's OAuth2 access token URL (for grades).")
    )
    auth_audience = models.CharField(
        max_length=1024,
        blank=True,
        help_text=_("Audience of our token requests, when it is not the token URL."),
    )
    key_set_url = models.URLField(
        max_length=1024, help_text=_("The platform's public key set (JWKS) URL.")
    )
    deployment_ids = models.JSONField(
        default=list,
        blank=True,
        help_text=_('The deployment ids launches may carry, e.g. ["1", "2"].'),
    )
    require_user_account = models.BooleanField(
        default=False,
        help_text=_(
            "When checked, new learners must log in to an account of this site whose "
            "email is the one the platform sends; their LTI identity is then linked to it."
        ),
    )
    lti_consumer = models.OneToOneField(
        LtiConsumer, on_delete=models.PROTECT, editable=False, related_name="lti13_registration"
    )
    key_id = models.CharField(max_length=64, editable=False, unique=True)
    public_key_pem = models.TextField(editable=False)
    private_key_pem = models.TextField(editable=False)

    class Meta:
        verbose_name = _("LTI 1.3 platform registration")
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "client_id"], name="lti13_registration_issuer_client"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        with transaction.atomic():
            if not self.private_key_pem:
                self.private_key_pem, self.public_key_pem, self.key_id = _generate_tool_key()
            consumer = self.lti_consumer if self.lti_consumer_id else LtiConsumer()
            consumer.consumer_name = f"LTI 1.3: {self.name}"[:255]
            consumer.require_user_account = self.require_user_account
            consumer.save()
            self.lti_consumer = consumer
            super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        ids = self.deployment_ids
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise ValidationError({"deployment_ids": _('A list of non-empty strings, e.g. ["1"].')})

    def has_deployment(self, deployment_id: str) -> bool:
        return isinstance(self.deployment_ids, list) and deployment_id in self.deployment_ids

    def public_jwk(self) -> dict[str, str]:
        """The tool's public key as a JWK (what the platform verifies our JWTs with)."""
        jwk = json.loads(JWK.from_pem(self.public_key_pem.encode()).export_public())
        jwk.update({"kid": self.key_id, "alg": "RS256", "use": "sig"})
        return jwk


class Lti13GradedAssignment(models.Model):
    """Where to send a learner's score for a launched block over LTI 1.3 AGS.

    Recorded from a launch's AGS endpoint claim: the line item, the scopes
    granted, and the learner's ``sub`` (the score's ``userId``). One row per
    (registration, line item, sub); ``version_number`` works as in
    ``GradedAssignment``.
    """

    passback_related = ("registration",)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, db_index=True, on_delete=models.CASCADE)
    course_key = CourseKeyField(max_length=255, db_index=True)
    usage_key = UsageKeyField(max_length=255, db_index=True)
    registration = models.ForeignKey(Lti13Registration, on_delete=models.CASCADE)
    lti_user_id = models.CharField(max_length=255)
    lineitem_url = models.CharField(max_length=1024)
    scopes = models.JSONField(default=list)
    version_number = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("LTI 1.3 graded assignment")
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "lineitem_url", "lti_user_id"],
                name="lti13_assignment_lineitem_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.usage_key} for user {self.user_id} (LTI 1.3)"


class SpentNonce(models.Model):
    """A nonce a verified launch has used (LTI 1.1 or 1.3), kept until it could not verify again.

    Written only once a launch's signature verified, so anonymous traffic
    cannot add rows, and rows leave only once expired (``replay.py``), so
    none can be pushed out. ``digest`` is the SHA-256 of what identifies the
    nonce; the unique index is what makes spending atomic.
    """

    # Every verified launch inserts a row: 64-bit ids do not run out.
    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "spent nonce"

    def __str__(self) -> str:
        return f"nonce {self.digest[:12]}... until {self.expires_at:%Y-%m-%d %H:%M:%S}"
