"""``check_nonce_cache_is_shared``: a process-local launch state cache is reported."""

from __future__ import annotations

import pytest

from lti_provider.checks import check_nonce_cache_is_shared

REDIS = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": "redis://127.0.0.1:1",
}
MEMCACHED = {
    "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
    "LOCATION": "127.0.0.1:1",
}


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.FEATURES = {**getattr(settings, "FEATURES", {}), "ENABLE_LTI_PROVIDER": True}
    settings.LTI_PROVIDER = {**getattr(settings, "LTI_PROVIDER", {}), "CACHE_ALIAS": "nonces"}
    return settings


def ids(settings) -> list[str]:
    return [message.id for message in check_nonce_cache_is_shared()]


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    ],
)
def test_a_process_local_nonce_store_is_warned_about(production, backend, tmp_path):
    production.CACHES = {
        "default": REDIS,
        "nonces": {"BACKEND": backend, "LOCATION": str(tmp_path)},
    }
    [warning] = check_nonce_cache_is_shared()
    assert warning.id == "lti_provider.W090"
    assert "'nonces'" in warning.msg and "another web process fails" in warning.msg
    assert "RedisCache" in warning.hint


@pytest.mark.parametrize("shared", [REDIS, MEMCACHED])
def test_a_shared_nonce_store_passes(production, shared):
    production.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
        "nonces": shared,
    }
    assert ids(production) == []


def test_only_the_alias_the_provider_uses_matters(production):
    production.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "nonces": REDIS,
    }
    assert ids(production) == []
    production.LTI_PROVIDER = {"CACHE_ALIAS": "default"}
    assert ids(production) == ["lti_provider.W090"]


def test_no_warning_in_debug(production):
    production.CACHES = {"nonces": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    production.DEBUG = True
    assert ids(production) == []


def test_no_warning_when_launches_are_off(production):
    production.CACHES = {"nonces": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    production.FEATURES = {"ENABLE_LTI_PROVIDER": False}
    assert ids(production) == []


def test_an_unknown_alias_is_an_error(production):
    production.CACHES = {"default": REDIS}
    assert ids(production) == ["lti_provider.E090"]
