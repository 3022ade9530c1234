"""pylti1p3 adapted to this app: registrations from the database, state in the shared cache.

pylti1p3 does the OIDC login redirect, the id_token's decoding and checks,
the message validation and (in ``ags.py``) the AGS client. Its Django
integration is used through its extension points, with these departures
from its defaults, each for a reason:

* **State and nonce are server-side and single-use.** pylti1p3 keeps the
  state in a cookie (lost in iframes whose third-party cookies are blocked)
  and never spends a nonce (``check_nonce`` only tests presence), and it
  re-accepts a state once an id_token was seen with it. Here the login
  stores ``state -> (nonce, registration, target link)`` in the cache
  (``LTI_PROVIDER['CACHE_ALIAS']``), and a launch takes the state and spends
  the nonce, once, and only after the signature verified, so a forged
  request cannot burn a real login. Spent nonces are database rows with a
  unique key (``replay.py``), which no cache eviction can drop.
* **Audience, issuer and expiry are verified by PyJWT** (pylti1p3 turns the
  audience check off and does not require ``exp``).
* **Key rotation:** the platform's JWKS is cached; a kid it does not hold
  triggers one refetch, at most every ``LTI13_KEY_SET_REFRESH_INTERVAL``
  seconds per key set URL, so random kids cannot make us hammer the platform.
* **Outbound requests** (JWKS, token, scores) go through ``GuardedSession``:
  the outcome URL rules (``http.validate_outcome_url``, and the address
  connected to checked again), an overall deadline (``OUTCOME_TIMEOUT``),
  and no redirects.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt
import requests
from django.core.cache import caches
from django.db import DatabaseError
from django.http import HttpRequest
from jwcrypto.jwk import JWK
from pylti1p3.contrib.django import DjangoMessageLaunch, DjangoOIDCLogin
from pylti1p3.contrib.django.cookie import DjangoCookieService
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.registration import Registration
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfAbstract

from lti_provider import replay
from lti_provider.conf import app_settings
from lti_provider.exceptions import (
    InvalidIdToken,
    InvalidState,
    LtiError,
    MissingLaunchParameter,
    OutcomeError,
    PlatformKeysUnavailable,
    ReplayedNonce,
    UnknownDeployment,
    UnknownRegistration,
    UnsupportedLaunchMessage,
)
from lti_provider.http import GuardedSession, escaped
from lti_provider.models import Lti13Registration

logger = logging.getLogger(__name__)

#: Signature algorithms accepted on id_tokens (the LTI 1.3 security framework's RSA family).
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512")
#: Claims an id_token must carry, besides those pylti1p3's validators require.
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "nonce"]
#: The largest key set read from a platform.
MAX_KEY_SET_BYTES = 256 * 1024
#: The deepest nesting of arrays and objects read from JSON that comes from outside.
MAX_JSON_DEPTH = 32
_PREFIX = "lti_provider:lti13:"


def _cache() -> Any:
    return caches[app_settings.cache_alias]


def _hashed(kind: str, value: str) -> str:
    return _PREFIX + kind + ":" + hashlib.sha256(value.encode()).hexdigest()


def take_once(key: str, ttl: int) -> Any:
    """The value cached under ``key``, removed; None if absent or already taken.

    An atomic ``add`` of a spent marker decides the winner, so of two
    concurrent takers only one gets the value.
    """
    cache = _cache()
    if not cache.add(key + ":spent", 1, timeout=ttl):
        return None
    value = cache.get(key)
    cache.delete(key)
    return value


# --- registrations --------------------------------------------------------------------


class PlatformRegistration(Registration):
    """pylti1p3's view of an ``Lti13Registration`` (keeps the row for the launch)."""

    def __init__(self, model: Lti13Registration) -> None:
        self.model = model
        self.set_issuer(model.issuer).set_client_id(model.client_id)
        self.set_auth_login_url(model.auth_login_url).set_auth_token_url(model.auth_token_url)
        self.set_key_set_url(model.key_set_url)
        self.set_tool_private_key(model.private_key_pem)
        self.set_tool_public_key(model.public_key_pem)
        if model.auth_audience:
            self.set_auth_audience(model.auth_audience)

    def get_kid(self) -> str:
        return self.model.key_id

    def get_jwks(self) -> list[Mapping[str, Any]]:
        return [self.model.public_jwk()]


class RegistrationToolConf(ToolConfAbstract):
    """Registrations from ``Lti13Registration``: any number of client ids per issuer."""

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Any:
        return self.find_registration_by_params(iss, None)

    def find_registration_by_params(
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Any:
        rows = Lti13Registration.objects.filter(issuer=iss)
        if client_id:
            rows = rows.filter(client_id=client_id)
        found = list(rows[:2])
        # Without a client id, an issuer with several registrations is ambiguous.
        return PlatformRegistration(found[0]) if len(found) == 1 else None

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        registration = self.find_registration_by_params(iss, client_id)
        if registration is None or not registration.model.has_deployment(deployment_id):
            return None
        return Deployment().set_deployment_id(deployment_id)


# --- state and nonce ------------------------------------------------------------------


class NoCookies(DjangoCookieService):
    """State lives in the cache, not in a cookie (iframes often cannot keep cookies)."""

    def get_cookie(self, name: str) -> None:
        return None

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        pass


class CacheSessionService(SessionService):
    """OIDC state and nonce in the shared cache; a launch takes them once.

    The login saves the nonce, then the state with its parameters (pylti1p3
    calls them in that order), so the state records its nonce. The launch
    takes the state (``check_state_is_valid``) and then spends its nonce
    (``check_nonce``), which must be the id_token's.
    """

    def __init__(self, request: Any) -> None:
        super().__init__(request)
        self._saved_nonce: str | None = None
        self.state_data: dict[str, Any] | None = None

    def save_nonce(self, nonce: str) -> None:
        # Kept with the state (``save_state_params``), not as a cache entry of its own.
        self._saved_nonce = nonce

    def save_state_params(self, state: str, params: Mapping[str, object]) -> None:
        data = {**params, "nonce": self._saved_nonce}
        _cache().set(_hashed("state", state), data, timeout=app_settings.lti13_state_ttl)

    def get_state_params(self, state: str) -> dict[str, Any]:
        return dict(self.state_data or {})

    def check_state_is_valid(self, state: str, id_token_hash: str) -> bool:
        data = take_once(_hashed("state", state), app_settings.lti13_state_ttl)
        self.state_data = data if isinstance(data, dict) else None
        return self.state_data is not None

    def check_nonce(self, nonce: str) -> bool:
        # The login's own nonce; ``ProviderMessageLaunch.validate_nonce`` then spends it.
        return self.state_data is not None and self.state_data.get("nonce") == nonce

    def set_state_valid(self, state: str, id_token_hash: str) -> None:
        # pylti1p3 would let the same id_token be posted again with this state; not here.
        pass

    def save_launch_data(self, key: str, jwt_body: Any) -> None:
        # Scores are sent from Lti13GradedAssignment rows, not from a cached launch.
        pass


# --- the platform's keys --------------------------------------------------------------


def fetch_key_set(url: str) -> dict[str, Any]:
    """Download a platform's JWKS through ``GuardedSession``; ``PlatformKeysUnavailable``."""
    try:
        with GuardedSession() as session:
            response = session.get(url, stream=True)
            content = bytearray()
            # iter_content turns urllib3's read errors (a timeout...) into requests' own.
            for chunk in response.iter_content(chunk_size=16 * 1024):
                content += chunk
                if len(content) > MAX_KEY_SET_BYTES:
                    break
    except (requests.RequestException, OutcomeError) as exc:
        raise PlatformKeysUnavailable() from exc
    if response.status_code != 200 or len(content) > MAX_KEY_SET_BYTES:
        logger.warning("LTI 1.3 key set %s answered HTTP %s", url, response.status_code)
        raise PlatformKeysUnavailable()
    try:
        key_set = loads_bounded(bytes(content))
    except ValueError as exc:
        raise PlatformKeysUnavailable() from exc
    if not isinstance(key_set, dict) or not isinstance(key_set.get("keys"), list):
        raise PlatformKeysUnavailable()
    return key_set


def platform_key_set(url: str, refresh: bool = False) -> dict[str, Any] | None:
    """The platform's JWKS, cached; ``refresh`` refetches unless one did so recently.

    Returns None when a refresh is asked for but throttled.
    """
    cache, key = _cache(), _hashed("jwks", url)
    if not refresh:
        cached = cache.get(key)
        if cached is not None:
            return dict(cached)
    elif not cache.add(
        _hashed("jwks-refresh", url), 1, timeout=app_settings.lti13_key_set_refresh_interval
    ):
        return None
    key_set = fetch_key_set(url)
    cache.set(key, key_set, timeout=app_settings.lti13_key_set_cache_seconds)
    if not refresh:
        # A first fetch counts as fresh: an unknown kid right after it is not refetched.
        cache.add(
            _hashed("jwks-refresh", url), 1, timeout=app_settings.lti13_key_set_refresh_interval
        )
    return key_set


def find_key(key_set: Mapping[str, Any], kid: str, alg: str) -> str | None:
    """The PEM of the key ``kid`` for ``alg`` in ``key_set``, or None."""
    for key in key_set.get("keys", []):
        if isinstance(key, dict) and key.get("kid") == kid and key.get("alg", "RS256") == alg:
            try:
                return str(JWK.from_json(json.dumps(key)).export_to_pem().decode())
            except (ValueError, TypeError) as exc:
                raise InvalidIdToken() from exc
    return None


# --- pylti1p3's flows -----------------------------------------------------------------


class ProviderOIDCLogin(DjangoOIDCLogin):
    """OIDC login initiation with our tool configuration and server-side state."""

    def __init__(self, request: HttpRequest) -> None:
        super().__init__(
            request,
            RegistrationToolConf(),
            session_service=CacheSessionService(request),
            cookie_service=NoCookies(request),
        )

    def validate_oidc_login(self) -> Registration:
        try:
            return super().validate_oidc_login()
        except OIDCException as exc:
            missing = [p for p in ("iss", "login_hint") if not self._get_request_param(p)]
            if missing:
                raise MissingLaunchParameter(*missing) from exc
            raise UnknownRegistration() from exc


class ProviderMessageLaunch(DjangoMessageLaunch):
    """A resource link launch, checked in an order that writes nothing before the signature.

    Each pylti1p3 step's ``LtiException`` becomes our exception for that kind
    of failure, hence its status code and page.
    """

    def __init__(self, request: HttpRequest) -> None:
        self.session = CacheSessionService(request)
        super().__init__(
            request,
            RegistrationToolConf(),
            session_service=self.session,
            cookie_service=NoCookies(request),
            requests_session=GuardedSession(),
        )

    @property
    def registration(self) -> Lti13Registration:
        assert isinstance(self._registration, PlatformRegistration)
        return self._registration.model

    def validate(
        self, before_spending: Callable[[Mapping[str, Any]], None] | None = None
    ) -> ProviderMessageLaunch:
        """Run every check; ``before_spending(claims)`` may refuse before the state is spent."""
        for name in ("id_token", "state"):
            if not self._get_request_param(name):
                raise MissingLaunchParameter(name)
        self._validated = True
        steps: list[tuple[Callable[[], Any], type[LtiError]]] = [
            (self.validate_jwt_format, InvalidIdToken),
            (self.validate_registration, UnknownRegistration),
            (self.validate_jwt_signature, InvalidIdToken),
            (self.validate_deployment, UnknownDeployment),
            (self.validate_message, UnsupportedLaunchMessage),
            (lambda: before_spending and before_spending(self.claims), LtiError),
            # Single-use checks last: only a verified launch spends a state and nonce.
            (self.validate_state, InvalidState),
            (self.validate_nonce, ReplayedNonce),
        ]
        try:
            for step, error in steps:
                try:
                    step()
                except LtiException as exc:
                    logger.info("LTI 1.3 launch refused (%s): %s", error.__name__, escaped(exc))
                    raise error() from exc
        except LtiError:
            self._validated = False
            raise
        return self

    def validate_jwt_format(self) -> ProviderMessageLaunch:
        """pylti1p3's decoding, then the shapes every later step relies on.

        The token is not verified yet: header and payload must be JSON
        objects nested at most ``MAX_JSON_DEPTH`` deep, ``iss`` a string,
        ``aud`` a string or a non-empty list of strings, and ``azp`` (required
        with several audiences) one of them.
        """
        super().validate_jwt_format()
        header, body = self._jwt.get("header"), self._jwt.get("body")
        try:
            if not isinstance(header, dict) or not isinstance(body, dict):
                raise LtiException("The id_token's header and payload must be JSON objects")
            if json_too_deep(header) or json_too_deep(body):
                raise LtiException("The id_token's JSON is nested too deeply")
            check_claim_types(body)
        except LtiException:
            self._jwt = {}
            raise
        return self

    def get_client_id(self) -> str:
        """The client id the token was issued to: ``azp`` when present, else its audience."""
        azp = self.claims.get("azp")
        if azp is not None:
            return str(azp)
        aud = self.claims.get("aud")
        return str(aud[0] if isinstance(aud, list) else aud)

    def validate_message(self) -> ProviderMessageLaunch:
        super().validate_message()
        if not self.is_resource_launch():
            raise LtiException("Only resource link launches are served")
        return self

    def get_public_key(self) -> tuple[str, str]:
        header = self._jwt.get("header", {})
        kid, alg = header.get("kid"), header.get("alg")
        if not kid or alg not in ALLOWED_ALGORITHMS:
            raise InvalidIdToken()
        url = self.registration.key_set_url
        pem = find_key(platform_key_set(url) or {}, kid, alg)
        if pem is None:
            # Perhaps the platform rotated its keys: refetch (at most once per interval).
            pem = find_key(platform_key_set(url, refresh=True) or {}, kid, alg)
        if pem is None:
            logger.info("LTI 1.3 launch signed with unknown key id %r", kid)
            raise InvalidIdToken()
        return pem, alg

    def validate_jwt_signature(self) -> ProviderMessageLaunch:
        public_key, alg = self.get_public_key()
        registration = self.registration
        try:
            jwt.decode(
                self._get_id_token(),
                public_key,
                algorithms=[alg],
                audience=registration.client_id,
                issuer=registration.issuer,
                leeway=app_settings.lti13_clock_leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.InvalidTokenError as exc:
            logger.info("LTI 1.3 id_token refused: %s", escaped(exc))
            raise InvalidIdToken() from exc
        azp = self.claims.get("azp")
        if azp is not None and azp != registration.client_id:
            logger.info("LTI 1.3 id_token refused: azp is not our client id")
            raise InvalidIdToken()
        return self

    def validate_nonce(self) -> ProviderMessageLaunch:
        """The nonce is this login's (pylti1p3's check), and is spent now, once.

        Spent nonces are database rows (``replay.py``), kept as long as the
        id_token could verify, so no eviction lets the launch be posted again.
        """
        super().validate_nonce()
        registration = self.registration
        nonce = str(self.claims["nonce"])
        lifetime = max(
            float(app_settings.lti13_state_ttl),
            float(self.claims["exp"]) - time.time() + app_settings.lti13_clock_leeway,
        )
        digest = replay.nonce_digest("lti1.3", registration.issuer, registration.client_id, nonce)
        try:
            spent_now = replay.spend(digest, lifetime)
        except DatabaseError as exc:
            logger.error("LTI 1.3 nonce store unavailable (%s); launch refused", type(exc).__name__)
            raise LtiException("The nonce store is unavailable") from exc
        if not spent_now:
            raise LtiException("The nonce was already used")
        return self

    def validate_state(self) -> ProviderMessageLaunch:
        super().validate_state()
        data = self.session.state_data or {}
        if data.get("registration_id") != self.registration.pk:
            raise InvalidState()
        expected_target = data.get("target_link_uri")
        if expected_target and expected_target != self.target_link_uri:
            raise InvalidState()
        return self

    @property
    def claims(self) -> Mapping[str, Any]:
        return self._jwt.get("body", {})

    @property
    def target_link_uri(self) -> str:
        return str(self.claims.get(TARGET_LINK_URI_CLAIM, ""))


def json_too_deep(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` deep (no recursion)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def loads_bounded(text: str | bytes) -> Any:
    """``json.loads``, refusing (``ValueError``) documents nested past ``MAX_JSON_DEPTH``."""
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    if json_too_deep(value):
        raise ValueError("JSON nested too deeply")
    return value


def _identifier(value: Any) -> bool:
    # A non-empty string without NUL (which no identifier has, and PostgreSQL cannot compare).
    return isinstance(value, str) and bool(value) and "\x00" not in value


def check_claim_types(claims: Mapping[str, Any]) -> None:
    """The identifying claims of an id_token have the types OIDC gives them, or LtiException.

    With several audiences the token must name its authorized party (``azp``,
    OIDC Core 3.1.3.7); an ``azp`` must be one of the audiences (it is then
    the client id the registration is looked up by, and must be ours).
    """
    iss = claims.get("iss")
    if not _identifier(iss):
        raise LtiException('"iss" must be a non-empty string')
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if not audiences or not all(_identifier(item) for item in audiences):
        raise LtiException('"aud" must be a non-empty string or list of strings')
    azp = claims.get("azp")
    if azp is not None and not _identifier(azp):
        raise LtiException('"azp" must be a non-empty string')
    if len(audiences) > 1 and azp is None:
        raise LtiException('"azp" is required when "aud" has several values')
    if azp is not None and azp not in audiences:
        raise LtiException('"azp" is not one of the audiences')


TARGET_LINK_URI_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri"
CUSTOM_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/custom"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
