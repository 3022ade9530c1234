"""lti_provider.http: DNS rebinding, mixed answers and proxies, against a real server on 127.0.0.1.

The outcome URLs name ``rebind.test``; a resolver stands in for DNS (the
system's own ``socket.getaddrinfo`` is replaced, so the HTTP client's
resolution goes through it too). It answers a public address first, as a
rebinding name does for the check, and 127.0.0.1 afterwards, where the test's
outcome server listens. Without the pinned connection the score reaches that
server; with it, nothing does.
"""

import socket

import pytest
import requests

from lti_provider import http, outcomes
from lti_provider.exceptions import InvalidOutcomeURL
from tests.factories import GradedAssignmentFactory
from tests.lti_provider.outcome_server import OutcomeServer, outcome_server_fixture  # noqa: F401

PUBLIC = "93.184.216.34"
#: The test outcome server reads an OAuth header from every request.
OAUTH = {"Authorization": 'OAuth oauth_consumer_key="key"'}
REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture
def strict(settings):
    """Production's address rules; http allowed only so the local server can answer."""
    settings.LTI_PROVIDER = {
        **settings.LTI_PROVIDER,
        "ALLOW_INSECURE_OUTCOME_URLS": True,
        "ALLOW_PRIVATE_OUTCOME_HOSTS": False,
    }


def answer(monkeypatch, *answers: list[str]) -> list[str]:
    """Resolve ``rebind.test`` to each of ``answers`` in turn (the last one repeats)."""
    asked: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        addresses = answers[min(len(asked), len(answers) - 1)]
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def rebinding_url(server: OutcomeServer) -> str:
    return f"http://rebind.test:{server.port}/outcomes/"


def test_a_name_rebound_to_loopback_after_the_check_gets_no_score(
    db, strict, monkeypatch, outcome_server
):
    assignment = GradedAssignmentFactory(
        outcome_service__lis_outcome_service_url=rebinding_url(outcome_server)
    )
    consumer = assignment.outcome_service.lti_consumer
    outcome_server.secrets[consumer.consumer_key] = consumer.consumer_secret
    asked = answer(monkeypatch, [PUBLIC], ["127.0.0.1"])

    with pytest.raises(InvalidOutcomeURL, match=r"resolves to 127\.0\.0\.1"):
        outcomes.send_replace_result(assignment, 0.5)

    assert len(asked) == 2  # the check, then the connection's own resolution
    assert outcome_server.received == []


def test_a_platform_url_rebound_to_loopback_is_not_reached(strict, monkeypatch, outcome_server):
    answer(monkeypatch, [PUBLIC], ["127.0.0.1"])
    with pytest.raises(InvalidOutcomeURL), http.GuardedSession() as session:
        session.post(rebinding_url(outcome_server), data=b"<x/>", headers=OAUTH)
    assert outcome_server.received == []


def test_one_private_address_among_public_ones_refuses_the_connection(strict, monkeypatch):
    answer(monkeypatch, [PUBLIC, "10.1.2.3"])
    with pytest.raises(InvalidOutcomeURL, match=r"10\.1\.2\.3"), http.PinnedSession() as session:
        session.get("http://rebind.test/", timeout=2)


def loopback_counts_as_public(monkeypatch) -> None:
    """Let the pinned connection reach the test server: only 127.0.0.0/8 passes the check.

    Real public addresses cannot be used: test traffic stays on this machine.
    """
    monkeypatch.setattr(http, "is_public", lambda address: address.startswith("127."))


def test_the_connection_goes_to_the_address_it_checked(strict, monkeypatch, outcome_server):
    loopback_counts_as_public(monkeypatch)
    asked = answer(monkeypatch, ["127.0.0.1"])
    with http.PinnedSession() as session:
        response = session.post(
            rebinding_url(outcome_server), data=b"<x/>", headers=OAUTH, timeout=5
        )
    assert response.status_code == 200
    assert [r.path for r in outcome_server.received] == ["/outcomes/"]
    assert len(asked) == 1  # resolved once, by the check that also chose the address


def test_the_next_checked_address_is_tried_when_one_refuses(strict, monkeypatch, outcome_server):
    loopback_counts_as_public(monkeypatch)
    answer(monkeypatch, ["127.0.0.2", "127.0.0.1"])  # the server listens on 127.0.0.1 only
    with http.PinnedSession() as session:
        response = session.post(
            rebinding_url(outcome_server), data=b"<x/>", headers=OAUTH, timeout=5
        )
    assert response.status_code == 200
    assert len(outcome_server.received) == 1


def test_an_unresolvable_name_is_a_connection_error(strict, monkeypatch):
    def getaddrinfo(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(requests.ConnectionError), http.PinnedSession() as session:
        session.get("http://rebind.test/", timeout=2)


def test_a_refused_connection_is_a_connection_error(strict, monkeypatch):
    loopback_counts_as_public(monkeypatch)
    with socket.socket() as probe:  # nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer(monkeypatch, ["127.0.0.1"])
    with pytest.raises(requests.ConnectionError), http.PinnedSession() as session:
        session.get(f"http://rebind.test:{port}/", timeout=2)


def test_proxy_settings_in_the_environment_are_ignored(monkeypatch, outcome_server):
    """Through a proxy the address checked would be the proxy's: none is used."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")  # nothing listens on port 9
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9/")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with http.PinnedSession() as session:
        response = session.post(outcome_server.url, data=b"<x/>", headers=OAUTH, timeout=5)
    assert response.status_code == 200
    assert len(outcome_server.received) == 1  # directly, not through the dead proxy


# --- addresses that embed another, or were never global ------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        # 6to4 (2002::/16): a relay reaches the IPv4 address it embeds, so none is allowed.
        ("2002:7f00:1::", False),  # 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 169.254.169.254
        ("2002:a00:1::1", False),  # 10.0.0.1
        ("2002:808:808::1", False),  # 8.8.8.8: 6to4 is refused whatever it embeds
        # Teredo (2001::/32): the client address is embedded (obfuscated).
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:5601:5601", False),  # 169.254.169.254
        # NAT64, the well-known prefix: judged by the IPv4 address it translates to.
        ("64:ff9b::7f00:1", False),  # 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # 169.254.169.254
        ("64:ff9b::c0a8:101", False),  # 192.168.1.1
        ("64:ff9b::808:808", True),  # 8.8.8.8, as DNS64 answers on an IPv6-only network
        # NAT64, the local-use prefix: what it maps to is the network's own business.
        ("64:ff9b:1::808:808", False),
        ("64:ff9b:1:ffff::7f00:1", False),
        # IPv4-mapped, IPv4-translated and (deprecated) IPv4-compatible forms.
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::ffff:10.1.2.3", False),
        ("::ffff:100.64.0.1", False),  # shared address space (carrier NAT)
        ("::ffff:8.8.8.8", True),
        ("::ffff:0:127.0.0.1", False),
        ("::ffff:0:8.8.8.8", False),  # IPv4-translated (SIIT, obsolete): refused whatever
        ("::127.0.0.1", False),
        ("::169.254.169.254", False),
        ("::8.8.8.8", False),
        # Site-local (fec0::/10, deprecated), unique local, link-local, loopback.
        ("fec0::1", False),
        ("fefe::1", False),
        ("fd00::1", False),
        ("fe80::1%eth0", False),
        ("::1", False),
        ("::", False),
    ],
)
def test_the_public_address_check(address, public):
    assert http.is_public(address) is public
