"""Outbound HTTP to URLs that came from the outside: outcome services and LTI 1.3 platforms.

``validate_outcome_url`` (in ``outcomes.py``) refuses a URL early, with a
clear message: not https, or a host resolving to a loopback, private or
otherwise non-public address. It cannot stop DNS rebinding on its own: the
name may resolve to a public address when checked and to 127.0.0.1 when the
HTTP client resolves it again to connect. So the sessions here connect
through ``PinnedAdapter``: every new connection resolves the host once,
refuses it unless every address is public, and connects to one of those
very addresses. TLS still checks the certificate against the host name.

``ALLOW_PRIVATE_OUTCOME_HOSTS`` (tests, a campus LMS on a private network)
turns the address check off here as in ``validate_outcome_url``.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import time
from contextvars import ContextVar
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from .conf import app_settings
from .exceptions import InvalidOutcomeURL, OutcomeError

DISTRIBUTION = "django-verify-student-lti"


def _user_agent() -> str:
    try:
        release = version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was never installed
        release = "source"
    return f"{DISTRIBUTION}/{release} (LTI tool provider; grade passback)"


#: The User-Agent of every request to a consumer or platform: some refuse
#: requests without a descriptive one (Canvas does).
USER_AGENT = _user_agent()


#: IPv6 ranges refused whatever they embed: 6to4 and Teredo relays reach an IPv4 address
#: of the sender's choosing; NAT64's local-use prefix and SIIT's IPv4-translated form
#: map to whatever the network says; site-local (fec0::/10) was never global.
_REFUSED_IPV6 = tuple(
    ipaddress.IPv6Network(network)
    for network in ("2002::/16", "2001::/32", "64:ff9b:1::/48", "::ffff:0:0:0/96", "fec0::/10")
)
#: Forms that carry an IPv4 address in their last 32 bits and reach that address: the
#: NAT64 well-known prefix (DNS64 answers with it on IPv6-only networks) and IPv4-mapped.
_EMBEDDING_IPV6 = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "::ffff:0:0/96"))
#: IPv4-compatible addresses (deprecated), and :: and ::1 among them.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def escaped(text: object, limit: int = 200) -> str:
    """Text from outside, fit for one log line: quoted, escaped, at most ``limit`` characters.

    ``repr`` escapes newlines, other control characters and Unicode line
    separators, so a peer's text cannot start a log line of its own.
    """
    value = str(text)
    return repr(value[:limit]) + ("..." if len(value) > limit else "")


def is_public(address: str) -> bool:
    """Whether ``address`` is a global unicast address, and so is any IPv4 address it embeds.

    The rules are spelled out here rather than left to ``ipaddress``'s flags,
    which differ between Python versions for these ranges.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _IPV4_COMPATIBLE or any(ip in network for network in _REFUSED_IPV6):
            return False
        if any(ip in network for network in _EMBEDDING_IPV6):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (TCP), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def public_addresses(host: str, port: int) -> list[str]:
    """``resolve(host, port)``, refused with ``InvalidOutcomeURL`` unless all are public.

    Raises ``socket.gaierror`` (or ``UnicodeError``) when the name does not
    resolve at all.
    """
    addresses = resolve(host, port)
    for address in addresses:
        if not is_public(address):
            raise InvalidOutcomeURL(
                f"Outcome service host {host!r} resolves to {address}, a loopback, private "
                "or otherwise non-public address."
            )
    return addresses


def validate_outcome_url(url: str) -> None:
    """Refuse an outcome service URL we must not send to; raise ``InvalidOutcomeURL``.

    https only unless ``ALLOW_INSECURE_OUTCOME_URLS``; the host is resolved and
    every address it resolves to must be public (no loopback, private,
    link-local, reserved, multicast or unspecified address) unless
    ``ALLOW_PRIVATE_OUTCOME_HOSTS``. Checked again, on the address connected
    to, by the sessions below.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidOutcomeURL(f"Outcome service URL {url!r} is malformed: {exc}") from exc
    if parts.scheme not in ("https", "http"):
        raise InvalidOutcomeURL(f"Outcome service URL {url!r} must use https.")
    if parts.scheme == "http" and not app_settings.allow_insecure_outcome_urls:
        raise InvalidOutcomeURL(f"Outcome service URL {url!r} must use https, not http.")
    host = parts.hostname
    if not host:
        raise InvalidOutcomeURL(f"Outcome service URL {url!r} has no host.")
    if app_settings.allow_private_outcome_hosts:
        return
    default_port = 443 if parts.scheme == "https" else 80
    try:
        public_addresses(host, port or default_port)
    except (OSError, UnicodeError) as exc:
        raise InvalidOutcomeURL(f"Outcome service host {host!r} cannot be resolved: {exc}") from exc


# --- the overall deadline ----------------------------------------------------------------
#: When the request under way must be over (``time.monotonic()``), set by the sessions.
_deadline: ContextVar[float | None] = ContextVar("lti_provider_http_deadline", default=None)


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("The request's overall deadline (OUTCOME_TIMEOUT) has passed.")
    return left


class _DeadlineReader(io.RawIOBase):
    """A response's socket reads, each waiting no longer than the time left to the deadline.

    A per-read timeout alone lets a peer that trickles a byte at a time hold
    the request for as long as it likes.
    """

    def __init__(self, raw: Any, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._raw, self._sock, self._deadline = raw, sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = _time_left(self._deadline)
        timeout = self._sock.gettimeout()
        self._sock.settimeout(left if timeout is None else min(timeout, left))
        try:
            return self._raw.readinto(buffer)  # type: ignore[no-any-return]
        finally:
            self._sock.settimeout(timeout)  # the connection's own timeout, for its next use

    def close(self) -> None:
        self._raw.close()
        super().close()


class DeadlineHTTPResponse(http.client.HTTPResponse):
    """``http.client``'s response, reading (status, headers, body) within the deadline."""

    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        deadline = _deadline.get()
        if deadline is not None:
            self.fp.close()  # nothing was read through it yet
            raw = sock.makefile("rb", buffering=0)
            self.fp = io.BufferedReader(_DeadlineReader(raw, sock, deadline))


class _PinnedConnectionMixin:
    """Resolve once, check the addresses, connect to one of them (urllib3 2.x).

    Connecting, like reading the response, ends by the request's deadline.
    """

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    response_class: Any = DeadlineHTTPResponse

    def _new_conn(self) -> socket.socket:
        deadline = _deadline.get()
        if deadline is not None:
            try:
                left = _time_left(deadline)
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, str(exc)) from exc
            if isinstance(self.timeout, int | float):
                self.timeout = min(self.timeout, left)
        if app_settings.allow_private_outcome_hosts:
            return super()._new_conn()  # type: ignore[misc, no-any-return]
        try:
            addresses = public_addresses(self.host, self.port)
        except (socket.gaierror, UnicodeError) as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        error: OSError | None = None
        for address in addresses:
            try:
                return create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                error = exc
        message = f"Failed to establish a new connection: {error}"
        raise NewConnectionError(self, message) from error  # type: ignore[arg-type]


class PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """A requests adapter whose connections go only to the addresses they checked."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": PinnedHTTPConnectionPool,
            "https": PinnedHTTPSConnectionPool,
        }


class PinnedSession(requests.Session):
    """A session that connects through ``PinnedAdapter``, ignores proxy settings and
    names itself (``USER_AGENT``).

    Proxies from the environment are ignored: through a proxy, the address
    checked would be the proxy's, not the outcome service's. Each request is
    over within ``OUTCOME_TIMEOUT`` seconds in all (connecting, the status
    and headers, and the body, also when read later with ``stream=True``),
    not only per socket read; past it, ``requests`` raises a timeout error.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.headers["User-Agent"] = USER_AGENT
        adapter = PinnedAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        token = _deadline.set(time.monotonic() + app_settings.outcome_timeout)
        try:
            return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            _deadline.reset(token)


class GuardedSession(PinnedSession):
    """For platform URLs: validated, pinned, bounded in time, no redirects."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        url = url.decode() if isinstance(url, bytes) else url
        method = method.decode() if isinstance(method, bytes) else method
        validate_outcome_url(url)
        kwargs.setdefault("timeout", app_settings.outcome_timeout)
        kwargs["allow_redirects"] = False
        response = super().request(method, url, *args, **kwargs)
        if 300 <= response.status_code < 400:
            raise OutcomeError(f"{url} answered HTTP {response.status_code} (not followed).")
        return response
