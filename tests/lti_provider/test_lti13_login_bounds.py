"""What an anonymous OIDC login may store: parameters capped, and logins rate-limited per client.

The login is the one LTI endpoint that writes (a login state in the cache)
before anything is verified: each parameter is capped (over the cap: 400,
nothing stored), and each client address may start only so many logins a
minute (over it: 429, nothing stored).
"""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.core.checks import Warning as CheckWarning
from django.urls import reverse

from lti_provider.checks import check_login_rate_cache
from lti_provider.conf import app_settings
from tests.lti_provider.lti13_platform import (  # noqa: F401  (fixtures)
    platform_fixture,
    registration_fixture,
    target_link_uri,
)

pytestmark = pytest.mark.django_db

LOGIN = "lti_provider_lti13_login"


def login_query(platform, **params: str) -> dict[str, str]:
    return {
        "iss": platform.issuer,
        "login_hint": "hint",
        "target_link_uri": target_link_uri(),
        "client_id": platform.client_id,
        "lti_deployment_id": "deployment-1",
        **params,
    }


def stored_states() -> int:
    """How many login states the cache holds (LocMemCache, the suite's)."""
    cache = caches["default"]
    return sum(1 for key in cache._cache if ":lti13:state:" in key)  # type: ignore[attr-defined]


def login(client, platform, method: str = "get", address: str = "127.0.0.1", **params: str):
    send = client.get if method == "get" else client.post
    return send(reverse(LOGIN), login_query(platform, **params), secure=True, REMOTE_ADDR=address)


# --- parameter caps -----------------------------------------------------------------------


def test_a_login_within_the_caps_stores_one_state(client, platform, registration):
    cap = app_settings.lti13_login_max_parameter_length
    long_target = target_link_uri() + "?" + "p" * (cap - len(target_link_uri()) - 1)
    assert len(long_target) == cap
    response = login(client, platform, target_link_uri=long_target, lti_message_hint="m" * cap)
    assert response.status_code == 302
    assert stored_states() == 1


@pytest.mark.parametrize(
    "name", ["target_link_uri", "login_hint", "lti_message_hint", "iss", "client_id"]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_parameter_over_the_cap_is_400_and_stores_nothing(
    client, platform, registration, name, method
):
    cap = app_settings.lti13_login_max_parameter_length
    response = login(client, platform, method, **{name: "x" * (cap + 1)})
    assert response.status_code == 400
    assert name in response.content.decode()
    assert f"{cap} characters" in response.content.decode()
    assert stored_states() == 0


@pytest.mark.parametrize("name", ["iss", "client_id", "lti_deployment_id", "login_hint"])
def test_a_parameter_with_a_nul_is_400_and_stores_nothing(client, platform, registration, name):
    response = login(client, platform, **{name: "a\x00b"})
    assert response.status_code == 400
    assert "NUL" in response.content.decode()
    assert stored_states() == 0


def test_a_two_megabyte_target_link_uri_is_refused(client, platform, registration):
    response = login(client, platform, target_link_uri=target_link_uri() + "?" + "x" * 2_000_000)
    assert response.status_code == 400
    assert stored_states() == 0


def test_the_cap_follows_the_setting(client, platform, registration, settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "LTI13_LOGIN_MAX_PARAMETER_LENGTH": 200}
    assert login(client, platform, login_hint="h" * 201).status_code == 400
    assert login(client, platform, login_hint="h" * 200).status_code == 302


@pytest.mark.parametrize("value", [0, -1, "4096", True, None])
def test_a_malformed_cap_is_improperly_configured(settings, value):
    from django.core.exceptions import ImproperlyConfigured

    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "LTI13_LOGIN_MAX_PARAMETER_LENGTH": value}
    with pytest.raises(ImproperlyConfigured, match="LTI13_LOGIN_MAX_PARAMETER_LENGTH"):
        app_settings.lti13_login_max_parameter_length


@pytest.mark.parametrize("value", ["120", "0/m", "ten/m", "5/y", 5, "5/m "])
def test_a_malformed_rate_is_reported_by_the_check(production, value):
    production.LTI_PROVIDER = {"LTI13_LOGIN_RATE": value}
    [error] = check_login_rate_cache()
    assert error.id == "lti_provider.E091"
    assert "LTI13_LOGIN_RATE" in error.msg


# --- rate limit -----------------------------------------------------------------------------


@pytest.fixture
def five_a_minute(settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "LTI13_LOGIN_RATE": "5/m"}


def test_a_client_over_the_rate_gets_429_and_stores_nothing(
    client, platform, registration, five_a_minute
):
    for _ in range(5):
        assert login(client, platform, address="203.0.113.7").status_code == 302
    response = login(client, platform, address="203.0.113.7")
    assert response.status_code == 429
    assert "Too many" in response.content.decode()
    assert int(response["Retry-After"]) > 0
    assert stored_states() == 5


def test_the_rate_is_per_client_address(client, platform, registration, five_a_minute):
    for _ in range(5):
        assert login(client, platform, address="203.0.113.7").status_code == 302
    assert login(client, platform, address="203.0.113.7").status_code == 429
    assert login(client, platform, address="198.51.100.2").status_code == 302


def test_an_ipv6_client_is_counted_by_its_64_bit_prefix(
    client, platform, registration, five_a_minute
):
    for i in range(5):
        assert login(client, platform, address=f"2001:db8:1:2::{i + 1}").status_code == 302
    assert login(client, platform, address="2001:db8:1:2::99").status_code == 429


def test_refused_logins_count_too(client, platform, registration, five_a_minute):
    for _ in range(5):
        assert login(client, platform, login_hint="x" * 10_000).status_code == 400
    assert login(client, platform).status_code == 429


def test_the_default_rate_lets_a_classroom_behind_one_address_in(client, platform, registration):
    for _ in range(60):
        assert login(client, platform, address="192.0.2.10").status_code == 302


def test_no_rate_limit_when_the_setting_is_none(client, platform, registration, settings):
    settings.LTI_PROVIDER = {**settings.LTI_PROVIDER, "LTI13_LOGIN_RATE": None}
    for _ in range(200):
        assert login(client, platform, address="192.0.2.10").status_code == 302


def test_the_launch_itself_is_not_rate_limited(client, platform, registration, five_a_minute):
    from tests.lti_provider.lti13_platform import post_launch

    for _ in range(8):
        # Refused (no such state), but never 429: a launch stores nothing before it verifies.
        assert post_launch(client, "a.b.c", "no-such-state").status_code == 403


# --- the system check ------------------------------------------------------------------------


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.FEATURES = {**settings.FEATURES, "ENABLE_LTI_PROVIDER": True}
    return settings


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    ],
)
def test_a_process_local_rate_limit_cache_is_warned_about(production, backend):
    production.CACHES = {"default": {"BACKEND": backend}}
    [warning] = check_login_rate_cache()
    assert isinstance(warning, CheckWarning)
    assert warning.id == "lti_provider.W091"
    assert "RATELIMIT_USE_CACHE" in warning.hint


def test_the_rate_limit_cache_follows_ratelimit_use_cache(production):
    production.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1",
        },
    }
    production.RATELIMIT_USE_CACHE = "shared"
    assert check_login_rate_cache() == []


def test_no_rate_limit_warning_when_the_limit_is_off_or_in_debug(production):
    production.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    production.LTI_PROVIDER = {"LTI13_LOGIN_RATE": None}
    assert check_login_rate_cache() == []
    production.LTI_PROVIDER = {}
    production.DEBUG = True
    assert check_login_rate_cache() == []
