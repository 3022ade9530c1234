"""The LTI provider's settings: the only module that reads ``django.conf.settings``.

Values are read when used (``override_settings`` works). Host hooks are
dotted paths, imported on first use and cached per path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal
from django.utils.module_loading import import_string

#: Defaults of the ``LTI_PROVIDER`` dict.
DEFAULTS: dict[str, Any] = {
    # f(request, course_key, usage_key) -> HttpResponse: what a launch shows.
    "LAUNCH_HANDLER": "lti_provider.views.default_launch_handler",
    # f(user_id, course_key, usage_key) -> (earned, possible) | None: composite scores.
    "SCORE_READER": None,
    # Outcome URLs: https only, public addresses only, unless these allow otherwise.
    "ALLOW_INSECURE_OUTCOME_URLS": False,
    "ALLOW_PRIVATE_OUTCOME_HOSTS": False,
    "OUTCOME_TIMEOUT": 10,
    "OUTCOME_MAX_RETRIES": 5,
    "OUTCOME_RETRY_BACKOFF": 30,
    # Cache alias holding spent nonces and launches waiting for a login.
    "CACHE_ALIAS": "default",
    # Seconds a validated launch waits server-side for the learner to log in.
    "PENDING_LAUNCH_TTL": 900,
    # LTI 1.3: seconds an OIDC login's state and nonce wait for the launch.
    "LTI13_STATE_TTL": 600,
    # LTI 1.3: seconds a platform's key set (JWKS) is cached.
    "LTI13_KEY_SET_CACHE_SECONDS": 3600,
    # LTI 1.3: least seconds between two fetches forced by an unknown key id.
    "LTI13_KEY_SET_REFRESH_INTERVAL": 60,
    # LTI 1.3: clock skew tolerated on an id_token's exp/iat, in seconds.
    "LTI13_CLOCK_LEEWAY": 5,
    # LTI 1.3: the tool's title in the configuration JSON.
    "LTI13_TOOL_TITLE": "Course content",
    # The template the provider's pages (errors, confirmations) extend; it must define
    # {% block title %} and {% block content %}.
    "BASE_TEMPLATE": "lti_provider/base.html",
    # LTI 1.3: the longest value (characters) of each OIDC login parameter; longer: 400.
    "LTI13_LOGIN_MAX_PARAMETER_LENGTH": 4096,
    # LTI 1.3: OIDC logins one client address may start, "<count>/<period>" (s, m, h, d;
    # django-ratelimit's syntax); more: 429. None: no limit.
    "LTI13_LOGIN_RATE": "120/m",
    # Dotted path to the host's account retirement Signal (sent with user=): when
    # set, lti_provider.api.retire_user is connected to it.
    "RETIREMENT_SIGNAL": None,
    # Send scores through the host's Celery app (True), in-process after the commit
    # (False), or decide by whether the host has a Celery app (None).
    "USE_CELERY": None,
}


#: A rate: a count, a slash, an optional multiplier and a period (django-ratelimit's syntax).
_RATE = re.compile(r"[1-9][0-9]*/[0-9]*[smhd]")

#: The authentication backend LTI logins are made through.
LTI_BACKEND = "lti_provider.backends.LtiBackend"


@lru_cache(maxsize=32)
def _import(path: str) -> Any:
    return import_string(path)


class AppSettings:
    """Typed, documented access to the LTI provider's settings."""

    def _get(self, name: str) -> Any:
        user = getattr(settings, "LTI_PROVIDER", None) or {}
        return user.get(name, DEFAULTS[name])

    def _hook(self, name: str) -> Callable[..., Any] | None:
        path = self._get(name)
        if not path:
            return None
        try:
            return _import(path)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"LTI_PROVIDER[{name!r}] = {path!r} cannot be imported: {exc}"
            ) from exc

    @property
    def enabled(self) -> bool:
        """Whether launches are served: on once the app is installed, unless turned off.

        Both ``FEATURES['ENABLE_LTI_PROVIDER']`` (the original's flag) and a
        top-level ``ENABLE_LTI_PROVIDER`` setting are honoured: either one set
        to a false value turns launches off (403). Unset, they count as on.
        """
        return not self.disabled_by

    @property
    def disabled_by(self) -> str:
        """The setting that turns launches off (``""`` when they are on), for messages."""
        features = getattr(settings, "FEATURES", None) or {}
        if not features.get("ENABLE_LTI_PROVIDER", True):
            return f"FEATURES['ENABLE_LTI_PROVIDER'] = {features['ENABLE_LTI_PROVIDER']!r}"
        flag = getattr(settings, "ENABLE_LTI_PROVIDER", True)
        if not flag:
            return f"ENABLE_LTI_PROVIDER = {flag!r}"
        return ""

    @property
    def user_email_domain(self) -> str:
        """``LTI_USER_EMAIL_DOMAIN``: domain of the email given to auto-created users."""
        return str(getattr(settings, "LTI_USER_EMAIL_DOMAIN", "lti.example.com"))

    @property
    def aggregate_score_passback_delay(self) -> int:
        """``LTI_AGGREGATE_SCORE_PASSBACK_DELAY``: delay before composite scores go out."""
        return int(getattr(settings, "LTI_AGGREGATE_SCORE_PASSBACK_DELAY", 15 * 60))

    @property
    def custom_params(self) -> tuple[str, ...]:
        """``LTI_CUSTOM_PARAMS``: launch parameters (e.g. ``custom_course_tag``) kept with a
        launch and passed to ``signals.launch_success`` receivers ([] as upstream)."""
        names = getattr(settings, "LTI_CUSTOM_PARAMS", None) or ()
        if isinstance(names, str) or not all(isinstance(name, str) for name in names):
            raise ImproperlyConfigured("LTI_CUSTOM_PARAMS must be a list of parameter names.")
        return tuple(names)

    @property
    def nonce_window_seconds(self) -> int:
        """``LTI_NONCE_WINDOW_SECONDS``: how far a launch's timestamp may be from now (300)."""
        return int(getattr(settings, "LTI_NONCE_WINDOW_SECONDS", 300))

    @property
    def lti_backend_enabled(self) -> bool:
        """Whether ``LtiBackend`` is in ``AUTHENTICATION_BACKENDS`` (LTI logins need it)."""
        return LTI_BACKEND in settings.AUTHENTICATION_BACKENDS

    @property
    def debug(self) -> bool:
        """``DEBUG``: some checks only matter in production."""
        return bool(settings.DEBUG)

    @property
    def login_url(self) -> str:
        return str(settings.LOGIN_URL)

    @property
    def launch_handler(self) -> Callable[..., Any]:
        hook = self._hook("LAUNCH_HANDLER")
        if hook is None:
            raise ImproperlyConfigured("LTI_PROVIDER['LAUNCH_HANDLER'] must be set.")
        return hook

    @property
    def score_reader(self) -> Callable[..., Any] | None:
        return self._hook("SCORE_READER")

    @property
    def retirement_signal(self) -> Signal | None:
        """The host's account retirement ``Signal`` (``RETIREMENT_SIGNAL``), or None."""
        hook = self._hook("RETIREMENT_SIGNAL")
        if hook is not None and not isinstance(hook, Signal):
            raise ImproperlyConfigured(
                f"LTI_PROVIDER['RETIREMENT_SIGNAL'] = {self._get('RETIREMENT_SIGNAL')!r} "
                "is not a django.dispatch.Signal."
            )
        return hook

    @property
    def base_template(self) -> str:
        """The template the provider's pages extend (``lti_provider/base.html``)."""
        return str(self._get("BASE_TEMPLATE"))

    @property
    def use_celery(self) -> bool | None:
        """``USE_CELERY``: True, False, or None (the host's Celery app if it has one)."""
        value = self._get("USE_CELERY")
        if value is not None and not isinstance(value, bool):
            raise ImproperlyConfigured(
                f"LTI_PROVIDER['USE_CELERY'] must be True, False or None, not {value!r}."
            )
        return value

    @property
    def allow_insecure_outcome_urls(self) -> bool:
        return bool(self._get("ALLOW_INSECURE_OUTCOME_URLS"))

    @property
    def allow_private_outcome_hosts(self) -> bool:
        return bool(self._get("ALLOW_PRIVATE_OUTCOME_HOSTS"))

    @property
    def outcome_timeout(self) -> float:
        return float(self._get("OUTCOME_TIMEOUT"))

    @property
    def outcome_max_retries(self) -> int:
        return int(self._get("OUTCOME_MAX_RETRIES"))

    @property
    def outcome_retry_backoff(self) -> int:
        return int(self._get("OUTCOME_RETRY_BACKOFF"))

    @property
    def cache_alias(self) -> str:
        return str(self._get("CACHE_ALIAS"))

    @property
    def pending_launch_ttl(self) -> int:
        return int(self._get("PENDING_LAUNCH_TTL"))

    @property
    def lti13_state_ttl(self) -> int:
        """Seconds an OIDC login's state and nonce stay valid (600)."""
        return int(self._get("LTI13_STATE_TTL"))

    @property
    def lti13_key_set_cache_seconds(self) -> int:
        """Seconds a platform's JWKS is cached (3600)."""
        return int(self._get("LTI13_KEY_SET_CACHE_SECONDS"))

    @property
    def lti13_key_set_refresh_interval(self) -> int:
        """Least seconds between two JWKS fetches forced by an unknown kid (60)."""
        return int(self._get("LTI13_KEY_SET_REFRESH_INTERVAL"))

    @property
    def lti13_clock_leeway(self) -> int:
        """Clock skew tolerated on an id_token's ``exp``/``iat`` (5 seconds)."""
        return int(self._get("LTI13_CLOCK_LEEWAY"))

    @property
    def lti13_login_max_parameter_length(self) -> int:
        """Characters each OIDC login parameter may have (4096): what a login may store."""
        value = self._get("LTI13_LOGIN_MAX_PARAMETER_LENGTH")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ImproperlyConfigured(
                "LTI_PROVIDER['LTI13_LOGIN_MAX_PARAMETER_LENGTH'] must be a positive number "
                f"of characters, not {value!r}."
            )
        return value

    @property
    def lti13_login_rate(self) -> str | None:
        """OIDC logins one client address may start (``"120/m"``), or None for no limit.

        Counted by django-ratelimit in its cache (``RATELIMIT_USE_CACHE``), per
        ``REMOTE_ADDR`` (IPv6 per /64), or per ``RATELIMIT_IP_META_KEY`` behind a proxy.
        """
        value = self._get("LTI13_LOGIN_RATE")
        if value is None:
            return None
        if not isinstance(value, str) or not _RATE.fullmatch(value):
            raise ImproperlyConfigured(
                "LTI_PROVIDER['LTI13_LOGIN_RATE'] must be None or \"<count>/<period>\" with a "
                f'period of s, m, h or d (e.g. "120/m"), not {value!r}.'
            )
        return value

    @property
    def ratelimit_cache_alias(self) -> str:
        """django-ratelimit's ``RATELIMIT_USE_CACHE``: where login rates are counted."""
        return str(getattr(settings, "RATELIMIT_USE_CACHE", "default"))

    @property
    def lti13_tool_title(self) -> str:
        """The tool's title in the configuration JSON a platform admin pastes."""
        return str(self._get("LTI13_TOOL_TITLE"))


app_settings = AppSettings()
