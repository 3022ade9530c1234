"""Anonymous traffic cannot wear down the replay memories.

The attack: a launch and a reviewer's verdict are captured; then a flood of
anonymous LTI 1.3 login requests (each one stores a login state) fills the
cache, evicting what an eviction policy can evict; then the captured
requests are sent again. Run on a plain host's cache (``LocMemCache`` with
its defaults) and on a real ``redis-server`` with a small ``maxmemory`` and
``allkeys-lru`` (the scale-out stack's Redis policy): the replays are
refused and the staff decision stands.

The flood comes from many client addresses, as a botnet's would, so the
login's per-client rate limit does not stop it: the replay stores must hold
on their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from lti_provider.models import LtiUser
from tests.factories import SoftwareSecurePhotoVerificationFactory, StaffFactory
from tests.lti_provider.lti13_platform import (  # noqa: F401  (fixtures)
    CLAIM,
    platform_fixture,
    post_launch,
    registration_fixture,
    start_login,
    target_link_uri,
)
from tests.redis_server import RedisServer, running_redis
from tests.security import helpers
from tests.security.helpers import post_callback, sign_launch, signed_callback_headers
from verify_student import api

pytestmark = pytest.mark.django_db

#: Redis as small as the attack needs: a few MB, least recently used keys evicted first.
REDIS_OPTIONS = ("--maxmemory", "3mb", "--maxmemory-policy", "allkeys-lru")
#: A target link URI as long as the login accepts (each state stored carries it).
LONG_TARGET = target_link_uri() + "?" + "p" * (3900 - len(target_link_uri()))


@pytest.fixture(scope="module")
def small_redis() -> Iterator[RedisServer]:
    with running_redis(*REDIS_OPTIONS) as server:
        yield server


@pytest.fixture(params=["locmem", "redis"])
def cache_backend(request, settings) -> str:
    """The host's one cache: Django's defaults for LocMemCache, or the small Redis."""
    if request.param == "locmem":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": "eviction-attack",
            }
        }
        # Enough to overflow LocMemCache's default 300 entries several times.
        request.node.flood_size = 600
    else:
        server = request.getfixturevalue("small_redis")
        server.flush()
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": server.url,
            }
        }
        # About four times maxmemory of login states.
        request.node.flood_size = 3000
        request.node.redis = server
    caches["default"].clear()
    return request.param


def flood_logins(platform, count: int) -> None:
    """``count`` anonymous OIDC logins, each from its own client address."""
    url = reverse("lti_provider_lti13_login")
    anonymous = Client()
    for i in range(count):
        address = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        response = anonymous.get(
            url,
            {
                "iss": platform.issuer,
                "login_hint": f"hint-{i}",
                "target_link_uri": LONG_TARGET,
                "client_id": platform.client_id,
            },
            secure=True,
            REMOTE_ADDR=address,
        )
        assert response.status_code == 302, response.content[:300]


def test_a_flood_of_logins_does_not_let_a_captured_launch_or_verdict_through(
    request, cache_backend, consumer, platform, registration
):
    # Captured: an LTI 1.1 launch, and the reviewer's PASS.
    launch = sign_launch(consumer)
    assert helpers.post_launch(launch).status_code == 200
    attempt = SoftwareSecurePhotoVerificationFactory(status="submitted")
    verdict = {"EdX-ID": attempt.receipt_id, "Result": "PASS", "Reason": "", "MessageType": ""}
    headers = signed_callback_headers(verdict)
    body = json.dumps(verdict)
    assert post_callback(Client(), body, **headers).content == b"OK!"
    attempt.refresh_from_db()
    api.review_attempt(attempt, "deny", StaffFactory(), "The photo ID is not the learner's.")
    identities = LtiUser.objects.count()

    flood_logins(platform, request.node.flood_size)
    if cache_backend == "redis":
        assert int(request.node.redis.info()["evicted_keys"]) > 0  # the flood did evict

    assert helpers.post_launch(launch).status_code == 403
    assert post_callback(Client(), body, **headers).content == b"OK!"  # known, not applied
    attempt.refresh_from_db()
    assert (attempt.status, attempt.error_msg) == ("denied", "The photo ID is not the learner's.")
    assert LtiUser.objects.count() == identities


def test_a_flood_of_logins_does_not_let_a_captured_lti13_launch_through(
    request, cache_backend, client, platform, registration
):
    auth = start_login(client, platform)
    token = platform.id_token(nonce=auth["nonce"], **{CLAIM + "target_link_uri": target_link_uri()})
    assert post_launch(client, token, auth["state"]).status_code == 200

    flood_logins(platform, request.node.flood_size)

    assert post_launch(Client(), token, auth["state"]).status_code == 403
