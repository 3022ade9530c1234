"""System checks: settings that would break LTI launches inside a consumer's iframe.

A consumer shows the tool in an iframe on its own site, so every request the
tool receives there is cross-site: browsers send a cookie with it only when
the cookie is ``SameSite=None`` and ``Secure``. Otherwise the session made by
a launch, and the CSRF cookie of the login page, are dropped, and the
login-and-resume flow cannot finish inside the frame.

These read Django's own cookie settings (not this app's), so they are read
here rather than through ``conf.py``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from lti_provider.conf import app_settings

_COOKIES = (
    ("session", "SESSION_COOKIE_SAMESITE", "SESSION_COOKIE_SECURE", "lti_provider.W001"),
    ("CSRF", "CSRF_COOKIE_SAMESITE", "CSRF_COOKIE_SECURE", "lti_provider.W002"),
)


@checks.register(checks.Tags.compatibility)
def check_launches_enabled(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Say so when a setting turns launches off: each one would be answered 403."""
    disabled_by = app_settings.disabled_by
    if not disabled_by:
        return []
    return [
        checks.Info(
            f"LTI launches are turned off by {disabled_by}: every launch is answered 403.",
            hint="Remove the setting (launches are on when lti_provider is installed) "
            "or set it to True.",
            id="lti_provider.I001",
        )
    ]


@checks.register(checks.Tags.security)
def check_cross_site_cookies(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when the LTI provider is on and its cookies would be dropped in an iframe."""
    if not app_settings.enabled:
        return []
    warnings: list[checks.CheckMessage] = []
    for cookie, samesite_name, secure_name, check_id in _COOKIES:
        samesite = getattr(settings, samesite_name, "Lax")
        secure = bool(getattr(settings, secure_name, False))
        if str(samesite) == "None" and secure:
            continue
        warnings.append(
            checks.Warning(
                f"The {cookie} cookie is SameSite={samesite!s}"
                f"{'; Secure' if secure else ' without Secure'}: browsers drop it in a "
                "consumer's cross-site iframe, so LTI launches there lose their login.",
                hint=f'Set {samesite_name} = "None" and {secure_name} = True (HTTPS only), '
                "or have consumers open the tool in a new window.",
                obj="settings",
                id=check_id,
            )
        )
    return warnings


# -- the launch state must be shared by every web process --------------------------------
#: Caches each process (or host) has its own of (LocMemCache, FileBasedCache), or that
#: store nothing at all (DummyCache).
PROCESS_LOCAL_CACHES = (LocMemCache, DummyCache, FileBasedCache)


@checks.register(checks.Tags.caches)
def check_nonce_cache_is_shared(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn when launches are on, DEBUG is off and the launch state cache is process-local.

    ``LTI_PROVIDER['CACHE_ALIAS']`` holds the launches waiting for a login and
    the LTI 1.3 login states: unless every web process reads the same cache, a
    launch that continues on another process fails. (Spent nonces are not in
    the cache: they are database rows, ``replay.py``.)
    """
    if not app_settings.enabled or app_settings.debug:
        return []
    alias = app_settings.cache_alias
    # The backend's class, not an instance: no client library loaded, no connection made.
    try:
        backend = import_string(caches.settings[alias]["BACKEND"])
    except (KeyError, ImportError) as exc:
        return [
            checks.Error(
                f"LTI_PROVIDER['CACHE_ALIAS'] = {alias!r} names no usable cache ({exc}).",
                hint="Name a cache in CACHES shared by every web process (Redis or Memcached).",
                id="lti_provider.E090",
            )
        ]
    if not issubclass(backend, PROCESS_LOCAL_CACHES):
        return []
    return [
        checks.Warning(
            f"The LTI launch state cache, {alias!r} ({backend.__name__}), is not shared "
            "between processes: a login-and-resume or an LTI 1.3 login that continues on "
            "another web process fails.",
            hint=(
                "Point LTI_PROVIDER['CACHE_ALIAS'] at a shared cache, e.g. "
                "django.core.cache.backends.redis.RedisCache (see docs/SCALING.md)."
            ),
            id="lti_provider.W090",
        )
    ]


@checks.register(checks.Tags.caches, checks.Tags.security)
def check_login_rate_cache(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report a login rate that cannot work: malformed, or counted per process, or not at all.

    django-ratelimit counts in ``RATELIMIT_USE_CACHE`` ("default"): with a
    process-local cache each web process counts on its own (a client gets the
    rate once per process), and ``DummyCache`` counts nothing.
    """
    if not app_settings.enabled:
        return []
    try:
        rate = app_settings.lti13_login_rate
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="lti_provider.E091")]
    if rate is None or app_settings.debug:
        return []
    alias = app_settings.ratelimit_cache_alias
    try:
        backend = import_string(caches.settings[alias]["BACKEND"])
    except (KeyError, ImportError) as exc:
        return [
            checks.Error(
                f"RATELIMIT_USE_CACHE = {alias!r} names no usable cache ({exc}).",
                hint="Name a cache in CACHES shared by every web process (Redis or Memcached).",
                id="lti_provider.E092",
            )
        ]
    if not issubclass(backend, PROCESS_LOCAL_CACHES):
        return []
    return [
        checks.Warning(
            f"The LTI 1.3 login rate limit ({rate} per client) counts in cache {alias!r} "
            f"({backend.__name__}), which is not shared between processes: each web process "
            "counts on its own"
            + (", and this one counts nothing." if backend is DummyCache else "."),
            hint=(
                "Set RATELIMIT_USE_CACHE to a cache shared by every web process (Redis or "
                "Memcached), or LTI_PROVIDER['LTI13_LOGIN_RATE'] = None to turn the limit off."
            ),
            id="lti_provider.W091",
        )
    ]
