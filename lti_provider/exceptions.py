"""The LTI provider's exceptions: one type per failure kind.

Views turn each into its documented status code through ``status_code``;
``public_message`` is safe to show to a learner (it never carries a secret,
a signature or another account's email); ``advice`` tells the learner what
to do about it. Both are translated.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

#: What a learner can do about most refused launches.
LAUNCH_AGAIN = _(
    "Go back to your learning platform and launch the content again. If this keeps "
    "happening, tell your course team."
)
NOT_SET_UP = _(
    "Your learning platform is not set up to use this site yet. Tell your course team, "
    "who can ask the platform's administrators to register it."
)


class LtiError(Exception):
    """Base of every LTI provider failure."""

    status_code = 400
    public_message = _("The LTI request could not be processed.")
    advice = LAUNCH_AGAIN
    #: Whether the way out is to log in with another account (the page then says so).
    switch_account = False

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.public_message)

    @property
    def message(self) -> str:
        return str(self.args[0] if self.args else self.public_message)


# --- launch: 400 ---------------------------------------------------------------------


class MissingLaunchParameter(LtiError):
    """One or more required launch parameters are absent or empty."""

    status_code = 400
    advice = _(
        "Your learning platform sent an incomplete launch. Launch the content again; if "
        "this keeps happening, tell your course team."
    )

    def __init__(self, *parameters: str) -> None:
        self.parameters = parameters
        super().__init__(
            str(_("Missing required LTI parameter(s): %(names)s"))
            % {"names": ", ".join(parameters)}
        )


class InvalidLaunchMessage(LtiError):
    """``lti_message_type`` is not a basic launch or ``lti_version`` is not LTI-1p0."""

    status_code = 400
    public_message = _("Unsupported LTI message type or version.")
    advice = MissingLaunchParameter.advice


class InvalidLaunchParameter(InvalidLaunchMessage):
    """A launch parameter this site cannot keep: too long, or not of its form.

    Refused at the launch, naming the parameter, rather than dropped: a
    grade request the site cannot record would otherwise be lost silently.
    """

    public_message = _("An LTI launch parameter cannot be accepted.")


# --- launch: 403 ---------------------------------------------------------------------


class LtiAccessDenied(LtiError):
    """Base of the failures that refuse a launch with 403."""

    status_code = 403
    public_message = _("The LTI launch was refused.")


class LtiDisabled(LtiAccessDenied):
    """A setting turns launches off (``FEATURES`` or top-level ``ENABLE_LTI_PROVIDER``)."""

    public_message = _("LTI launches are not enabled on this site.")
    advice = _(
        "This site does not accept launches from learning platforms at the moment. "
        "Tell your course team."
    )


class UnknownConsumer(LtiAccessDenied):
    """No ``LtiConsumer`` matches the launch's ``oauth_consumer_key``/instance guid."""

    public_message = _("Unknown LTI consumer.")
    advice = NOT_SET_UP


class UnsupportedSignatureMethod(LtiAccessDenied):
    """``oauth_signature_method`` is not HMAC-SHA1."""

    public_message = _("Only HMAC-SHA1 signatures are accepted.")
    advice = NOT_SET_UP


class InvalidSignature(LtiAccessDenied):
    """The OAuth1 signature does not verify."""

    public_message = _("The LTI launch signature is not valid.")


class StaleTimestamp(LtiAccessDenied):
    """``oauth_timestamp`` is outside ``LTI_NONCE_WINDOW_SECONDS`` of now."""

    public_message = _("The LTI launch has expired or its clock is wrong.")
    advice = _(
        "Go back to your learning platform and launch the content again. If this keeps "
        "happening, the clock of your learning platform or of this site may be wrong: "
        "tell your course team."
    )


class ReplayedNonce(LtiAccessDenied):
    """The (consumer key, nonce, timestamp) triple was seen before, or cannot be checked."""

    public_message = _("The LTI launch was already used.")
    advice = _(
        "A launch can be used only once. Go back to your learning platform and launch "
        "the content again from there (reloading this page does not work)."
    )


class InactiveUser(LtiAccessDenied):
    """The account linked to the LTI identity is inactive."""

    public_message = _("The account linked to this LTI identity is disabled.")
    advice = _(
        "Your account on this site is disabled. Contact this site's support team to "
        "have it enabled again."
    )


class EmailMismatch(LtiAccessDenied):
    """The logged-in account's email differs from the one the consumer asserted."""

    public_message = _(
        "The email address of the account you are logged in with does not match "
        "the email address sent by your learning platform."
    )
    advice = _(
        "Log out, log in with the account that has the email address your learning "
        "platform knows, then launch the content again."
    )
    switch_account = True


class MissingEmail(LtiAccessDenied):
    """The consumer requires an account but sent no ``lis_person_contact_email_primary``."""

    public_message = _(
        "Your learning platform did not send an email address, which this site "
        "needs to link your account."
    )
    advice = _(
        "Ask your course team to have your learning platform send your email address, "
        "then launch the content again."
    )


class PendingLaunchNotFound(LtiAccessDenied):
    """A resume token is unknown, expired or already used."""

    public_message = _("This launch has expired or was already used; launch it again.")
    advice = _("Go back to your learning platform and launch the content again from there.")


class LtiLoginRequired(LtiError):
    """Not a failure: the identity can only be linked once the learner logs in.

    The launch keeps the validated launch server-side and redirects to
    ``LOGIN_URL``; it never reaches a learner as an error.
    """

    status_code = 302
    public_message = _("Log in to continue this launch.")


# --- LTI 1.3 launches -----------------------------------------------------------------


class UnknownRegistration(LtiAccessDenied):
    """No ``Lti13Registration`` matches the issuer and client id (the id_token's audience)."""

    public_message = _("This learning platform is not registered with this site.")
    advice = NOT_SET_UP


class UnknownDeployment(LtiAccessDenied):
    """The launch's deployment id is not one of its registration's."""

    public_message = _("This deployment of the learning platform is not registered with this site.")
    advice = NOT_SET_UP


class InvalidIdToken(LtiAccessDenied):
    """The id_token is malformed, badly signed, expired, or for another audience or issuer."""

    public_message = _("The LTI launch token is not valid.")


class PlatformKeysUnavailable(LtiAccessDenied):
    """The platform's key set could not be fetched or read, so the launch cannot be verified."""

    public_message = _("The learning platform's keys could not be read to verify this launch.")
    advice = _(
        "This is usually brief. Launch the content again in a few minutes; if it keeps "
        "happening, tell your course team."
    )


class InvalidState(LtiAccessDenied):
    """The OIDC ``state`` is unknown, expired, already used, or not this launch's."""

    public_message = _("This launch did not start here, has expired or was already used.")
    advice = PendingLaunchNotFound.advice


class LoginParameterTooLong(LtiError):
    """An OIDC login parameter is longer than ``LTI13_LOGIN_MAX_PARAMETER_LENGTH``."""

    status_code = 400
    advice = _(
        "Your learning platform sent a login this site cannot take. Launch the content "
        "again; if this keeps happening, tell your course team."
    )

    def __init__(self, parameter: str, limit: int) -> None:
        self.parameter = parameter
        super().__init__(
            str(_("The LTI login parameter %(name)s is longer than %(limit)s characters."))
            % {"name": parameter, "limit": limit}
        )


class InvalidLoginParameter(LtiError):
    """An OIDC login parameter holds a character no such value has (NUL)."""

    status_code = 400
    advice = LoginParameterTooLong.advice

    def __init__(self, parameter: str) -> None:
        self.parameter = parameter
        super().__init__(
            str(_("The LTI login parameter %(name)s holds a NUL character.")) % {"name": parameter}
        )


class TooManyLogins(LtiError):
    """A client address started more OIDC logins than ``LTI13_LOGIN_RATE`` allows."""

    status_code = 429
    public_message = _("Too many LTI logins from your network.")
    advice = _("Wait a minute, then launch the content again from your learning platform.")

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__()


class UnsupportedLaunchMessage(LtiError):
    """An LTI 1.3 message we do not serve (only resource link launches are)."""

    status_code = 400
    public_message = _("Unsupported LTI message type or version.")
    advice = _(
        "Your learning platform sent a kind of launch this site does not serve. "
        "Tell your course team."
    )


# --- launch: 404 ---------------------------------------------------------------------


class InvalidLaunchKeys(LtiError):
    """The course or usage key in the launch URL does not parse."""

    status_code = 404
    public_message = _("The launched course or block does not exist.")
    advice = _(
        "The link in your learning platform points to content that does not exist on "
        "this site. Tell your course team."
    )


# --- outcomes (grade passback) -------------------------------------------------------


class OutcomeError(LtiError):
    """A score could not be delivered to a consumer's outcome service (not retried)."""

    public_message = _("The score could not be sent to the learning platform.")


class InvalidOutcomeURL(OutcomeError):
    """An outcome service URL is refused: not https, or a loopback/private target."""

    public_message = _("The outcome service URL is not allowed.")


class OutcomeServiceUnavailable(OutcomeError):
    """A network error or a 5xx (or 429) answer: worth retrying later."""

    public_message = _("The outcome service is unavailable.")
