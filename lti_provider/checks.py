"""System checks on the LTI provider's settings (``manage.py check``)."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.utils.module_loading import import_string

from .conf import app_settings

#: Caches a replayed launch can get past: each process (or host) has its own
#: (LocMemCache, FileBasedCache), or nothing is stored at all (DummyCache).
#: FileBasedCache's ``add`` is not atomic either, so two racing replays can both win.
PROCESS_LOCAL_CACHES = (LocMemCache, DummyCache, FileBasedCache)


@checks.register(checks.Tags.caches, checks.Tags.security)
def check_nonce_cache_is_shared(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Warn when launches are on, DEBUG is off and the nonce store is process-local.

    Spent nonces live in ``LTI_PROVIDER['CACHE_ALIAS']``: unless every web
    process reads the same cache, a launch replayed to another process passes.
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
            f"The LTI nonce store, cache {alias!r} ({backend.__name__}), is not shared "
            "between processes: a launch replayed to another web process would be accepted.",
            hint=(
                "Point LTI_PROVIDER['CACHE_ALIAS'] at a shared cache, e.g. "
                "django.core.cache.backends.redis.RedisCache (see docs/SCALING.md)."
            ),
            id="lti_provider.W090",
        )
    ]
