"""OAuth1 verification of LTI launches: oauthlib does the cryptography, we supply the data.

``verify_launch_signature`` is the entry point. It runs oauthlib's
``SignatureOnlyEndpoint`` with ``LtiRequestValidator`` and then spends the
launch's nonce. The nonce is spent only *after* the signature verified, so
an unsigned request can neither fill the nonce store nor burn a consumer's
nonces. Spent nonces are rows with a unique key (``replay.py``): of two
concurrent replays only one wins, and no other traffic can evict them.

oauthlib gets the form body as signed (``form_body``): RFC 5849 3.4.1.3.2
sorts repeated names by value, and a form handed over as pairs would be
folded into a dict, one value per name. ``SignatureValidator`` is the
original's class, bound to one consumer: ``verify(request) -> bool``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

from django.db import DatabaseError
from django.http import HttpRequest
from django.utils.translation import gettext
from oauthlib.common import Request as OAuthRequest
from oauthlib.common import urlencoded as URLENCODED_CHARACTERS
from oauthlib.oauth1 import RequestValidator, SignatureOnlyEndpoint
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA1

from lti_provider import replay
from lti_provider.conf import app_settings
from lti_provider.exceptions import (
    InvalidSignature,
    LtiAccessDenied,
    ReplayedNonce,
    StaleTimestamp,
    UnknownConsumer,
    UnsupportedSignatureMethod,
)
from lti_provider.models import LtiConsumer

logger = logging.getLogger(__name__)

#: Stand-in key and secret for unknown consumers: the signature is still
#: computed, so response time does not tell which keys exist.
DUMMY_CLIENT_KEY = "lti-provider-dummy-client"
_DUMMY_SECRET = "lti-provider-dummy-secret-never-matches"  # noqa: S105


class LtiRequestValidator(RequestValidator):
    """oauthlib's view of our consumers: HMAC-SHA1 only, keys from ``LtiConsumer``.

    One instance per launch: it remembers the consumer it loaded, so the
    launch does not query it again. Given the launch's ``lti_user_id`` (and
    instance guid), it loads that learner's link with the consumer, in the
    same query.
    """

    def __init__(self, lti_user_id: str = "", instance_guid: str = "") -> None:
        super().__init__()
        self.consumer: LtiConsumer | None = None
        self.client_checked = False
        self.lti_user_id = lti_user_id
        self.instance_guid = instance_guid

    @property
    def allowed_signature_methods(self) -> tuple[str, ...]:
        return (SIGNATURE_HMAC_SHA1,)

    @property
    def enforce_ssl(self) -> bool:
        # The URI is rebuilt from the request (scheme included, proxy header
        # honoured), so an http URI is a signature mismatch, not a transport issue.
        return False

    @property
    def timestamp_lifetime(self) -> int:
        return app_settings.nonce_window_seconds

    @property
    def dummy_client(self) -> str:
        return DUMMY_CLIENT_KEY

    def check_client_key(self, client_key: str) -> bool:
        # Consumer keys are whatever the admin typed (<= 32 chars in the model). oauthlib
        # unescapes oauth_* values once more, so "%2500" arrives here as NUL, which
        # PostgreSQL cannot even compare: refused before the query.
        return 0 < len(client_key) <= 255 and "\x00" not in client_key

    def check_nonce(self, nonce: str) -> bool:
        # LTI consumers use nonces of all shapes; only bound the size we store.
        return 0 < len(nonce) <= 255

    def validate_client_key(self, client_key: str, request: OAuthRequest) -> bool:
        self.client_checked = True
        # An LTI 1.3 registration's consumer row holds its learners, not a 1.1 key.
        self.consumer = LtiConsumer.objects.for_launch(
            client_key, self.lti_user_id, self.instance_guid
        )
        return self.consumer is not None

    def get_client_secret(self, client_key: str, request: OAuthRequest) -> str:
        if self.consumer is not None and client_key == self.consumer.consumer_key:
            return self.consumer.consumer_secret
        return _DUMMY_SECRET

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: OAuthRequest,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        # The nonce is spent by ``consume_nonce`` once the signature verified.
        return timestamp_in_window(timestamp)


def timestamp_in_window(timestamp: str, now: float | None = None) -> bool:
    """Whether ``timestamp`` is within ``LTI_NONCE_WINDOW_SECONDS`` of now, either way."""
    try:
        value = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = time.time() if now is None else now
    return abs(now - value) <= app_settings.nonce_window_seconds


def nonce_key(consumer_key: str, nonce: str, timestamp: str) -> str:
    """The digest a launch's (consumer key, nonce, timestamp) triple is spent under."""
    return replay.nonce_digest("lti1.1", consumer_key, nonce, timestamp)


def consume_nonce(consumer_key: str, nonce: str, timestamp: str) -> None:
    """Record the (key, nonce, timestamp) triple; raise ``ReplayedNonce`` if already seen.

    Spent nonces live in the database (``replay.py``), where anonymous
    traffic cannot push them out. Fails closed: when the store cannot answer,
    the launch is refused, since a replay could not be ruled out.
    """
    # Kept twice the window: a timestamp is accepted up to one window either
    # side of now, so a triple can be replayable for two windows at most.
    lifetime = 2 * app_settings.nonce_window_seconds
    try:
        spent_now = replay.spend(nonce_key(consumer_key, nonce, timestamp), lifetime)
    except DatabaseError as exc:
        logger.error("LTI nonce store unavailable (%s); launch refused", type(exc).__name__)
        raise ReplayedNonce(gettext("The launch could not be checked for replay.")) from exc
    if not spent_now:
        logger.warning("LTI launch replayed for consumer key %r", consumer_key)
        raise ReplayedNonce()


def form_body(request: HttpRequest) -> str:
    """The launch's form as oauthlib must read it: urlencoded, repeated names kept.

    The body as received when it is a urlencoded form oauthlib can parse
    (what browsers send); otherwise the parsed form, urlencoded again.
    """
    if request.content_type == "application/x-www-form-urlencoded":
        try:
            body = request.body.decode("ascii")
        except UnicodeDecodeError:
            body = None
        if body is not None and URLENCODED_CHARACTERS.issuperset(body):
            return body
    return urlencode([(k, v) for k, values in request.POST.lists() for v in values])


def verify_launch_signature(
    uri: str,
    params: Iterable[tuple[str, str]],
    body: str | None = None,
    validator: LtiRequestValidator | None = None,
) -> LtiConsumer:
    """Verify a launch POSTed to ``uri`` with form ``params``; return its consumer.

    ``uri`` must be the absolute URL the consumer signed (query included),
    ``body`` the urlencoded form as signed (``form_body``; ``params``
    urlencoded when not given). The consumer comes with the link of the
    launch's ``user_id``, if any (``LtiConsumer.objects.for_launch``).
    Raises ``UnsupportedSignatureMethod``, ``StaleTimestamp``,
    ``UnknownConsumer``, ``InvalidSignature`` or ``ReplayedNonce``.
    """
    params = list(params)
    oauth: Mapping[str, str] = {k: v for k, v in params if k.startswith("oauth_")}
    if oauth.get("oauth_signature_method") != SIGNATURE_HMAC_SHA1:
        raise UnsupportedSignatureMethod()
    if not timestamp_in_window(oauth.get("oauth_timestamp", "")):
        raise StaleTimestamp()

    if validator is None:
        fields = dict(params)
        validator = LtiRequestValidator(
            lti_user_id=fields.get("user_id", ""),
            instance_guid=fields.get("tool_consumer_instance_guid", ""),
        )
    endpoint = SignatureOnlyEndpoint(validator)
    valid, _request = endpoint.validate_request(
        uri,
        http_method="POST",
        body=urlencode(params) if body is None else body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    if not valid:
        consumer_key = oauth.get("oauth_consumer_key", "")
        if not timestamp_in_window(oauth["oauth_timestamp"]):  # time passed meanwhile
            raise StaleTimestamp()
        if not validator.client_checked:  # malformed OAuth parameters
            logger.info("LTI launch refused: malformed OAuth parameters (key %r)", consumer_key)
            raise InvalidSignature()
        if validator.consumer is None:
            logger.info("LTI launch refused: unknown consumer key %r", consumer_key)
            raise UnknownConsumer()
        logger.info("LTI launch refused: bad signature for consumer key %r", consumer_key)
        raise InvalidSignature()

    consumer = validator.consumer
    assert consumer is not None  # valid implies a known client
    consume_nonce(consumer.consumer_key, oauth["oauth_nonce"], oauth["oauth_timestamp"])
    return consumer


class SignatureValidator(LtiRequestValidator):
    """The original's validator, bound to one consumer: ``verify(request) -> bool``.

    ``SignatureValidator(lti_consumer).verify(request)`` is True when
    ``request`` is a launch signed with ``lti_consumer``'s key and secret,
    fresh, and not seen before (its nonce is then spent), as
    ``verify_launch_signature`` checks it.
    """

    def __init__(self, lti_consumer: LtiConsumer) -> None:
        super().__init__()
        self.lti_consumer = lti_consumer

    def validate_client_key(self, client_key: str, request: OAuthRequest) -> bool:
        self.client_checked = True
        matches = client_key == self.lti_consumer.consumer_key
        self.consumer = self.lti_consumer if matches else None
        return matches

    def verify(self, request: HttpRequest) -> bool:
        """Whether ``request`` is a valid launch of this validator's consumer."""
        params = [(k, v) for k, values in request.POST.lists() for v in values]
        try:
            verify_launch_signature(
                request.build_absolute_uri(), params, body=form_body(request), validator=self
            )
        except LtiAccessDenied as exc:
            logger.info("LTI launch signature not verified: %s", type(exc).__name__)
            return False
        return True
