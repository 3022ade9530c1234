"""An independent LTI 1.3 platform on 127.0.0.1 for the 1.3 tests.

Written here with PyJWT and ``cryptography`` (no code of the app under test):
its own RSA keys sign the id_tokens; it serves its key set (counting the
requests, for the key rotation tests), an OAuth2 token endpoint that checks
the tool's client-credentials assertion against the tool's public JWKS (as
the platform admin pasted it), and an AGS score endpoint that accepts only a
bearer token it issued with the score scope.

Import the fixture into a test module::

    from tests.lti_provider.lti13_platform import platform_fixture  # noqa: F401
"""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.local_server import serve_on_loopback

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class PlatformKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def new(cls) -> PlatformKey:
        return cls(
            kid="platform-" + secrets.token_hex(4),
            private=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        )

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}


@dataclass
class Platform:
    """The platform's side: keys, registered tool keys, issued tokens, received scores."""

    issuer: str = "https://platform.example.com"
    client_id: str = "tool-client-1"
    port: int = 0
    key: PlatformKey = field(default_factory=PlatformKey.new)
    published: list[PlatformKey] = field(default_factory=list)
    tool_jwks: dict[str, Any] = field(default_factory=dict)
    jwks_requests: int = 0
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, list[str]] = field(default_factory=dict)
    scores: list[dict[str, Any]] = field(default_factory=list)
    score_answers: deque[int] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.published = [self.key]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def lineitem_url(self) -> str:
        return f"{self.url}/lineitems/7"

    def rotate(self) -> PlatformKey:
        """A new signing key; the key set publishes only the new one from now on."""
        self.key = PlatformKey.new()
        self.published = [self.key]
        return self.key

    def id_token(self, key: PlatformKey | None = None, **claims: Any) -> str:
        """A signed id_token; ``claims`` override the defaults (None removes one)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "platform-user-1",
            "iat": now,
            "exp": now + 300,
            "nonce": "",
            CLAIM + "deployment_id": "deployment-1",
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "resource_link": {"id": "resource-link-1"},
            CLAIM + "roles": [LEARNER],
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        signer = key or self.key
        return jwt.encode(body, signer.private, algorithm="RS256", headers={"kid": signer.kid})

    def ags_claim(self, scopes: tuple[str, ...] = (SCORE_SCOPE, LINEITEM_SCOPE)) -> dict:
        return {
            "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": {
                "scope": list(scopes),
                "lineitem": self.lineitem_url,
                "lineitems": f"{self.url}/lineitems",
            }
        }

    # --- the token endpoint's checks ---

    def issue_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        record: dict[str, Any] = {"form": form, "ok": False}
        self.token_requests.append(record)
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return 400, {"error": "invalid_request"}
        assertion = form.get("client_assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            keys = {k["kid"]: k for k in self.tool_jwks.get("keys", [])}
            public = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(keys[header["kid"]]))
            claims = jwt.decode(
                assertion,
                public,  # type: ignore[arg-type]
                algorithms=["RS256"],
                audience=f"{self.url}/token",
                options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
            )
        except (KeyError, jwt.InvalidTokenError) as exc:
            record["error"] = repr(exc)
            return 401, {"error": "invalid_client"}
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            return 401, {"error": "invalid_client"}
        token = secrets.token_urlsafe(16)
        self.tokens[token] = form.get("scope", "").split()
        record["ok"] = True
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def receive_score(self, path: str, headers: dict[str, str], body: bytes) -> int:
        auth = headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        authorized = auth.startswith("Bearer ") and SCORE_SCOPE in self.tokens.get(token, [])
        self.scores.append(
            {
                "path": path,
                "authorized": authorized,
                "content_type": headers.get("Content-Type", ""),
                "user_agent": headers.get("User-Agent", ""),
                "score": json.loads(body or b"null"),
            }
        )
        if not authorized:
            return 401
        return self.score_answers.popleft() if self.score_answers else 200


def _handler(platform: Platform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _answer(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", platform.url + "/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/jwks":
                platform.jwks_requests += 1
                self._answer(200, {"keys": [key.jwk() for key in platform.published]})
            else:
                self._answer(404, {})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/token":
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                self._answer(*platform.issue_token(form))
            elif self.path.startswith("/lineitems/") and self.path.endswith("/scores"):
                status = platform.receive_score(self.path, dict(self.headers.items()), body)
                self._answer(status, {} if status == 200 else {"error": status})
            else:
                self._answer(404, {})

    return Handler


@pytest.fixture(name="platform")
def platform_fixture():
    """A running ``Platform`` on a free 127.0.0.1 port."""
    state = Platform()
    with serve_on_loopback(_handler(state), quiet_errors=False) as httpd:
        state.port = httpd.server_address[1]
        yield state


# --- the tool's side, as a platform admin and a browser drive it ---------------------

COURSE_ID = "course-v1:Org+Course+Run"
USAGE_ID = "block-v1:Org+Course+Run+type@problem+block@p1"


def target_link_uri(course_id: str = COURSE_ID, usage_id: str = USAGE_ID) -> str:
    from django.urls import reverse

    return "https://testserver" + reverse("lti_provider_lti13_target", args=[course_id, usage_id])


@pytest.fixture(name="registration")
def registration_fixture(db, platform, client):
    """The platform registered in the tool; the platform holds the tool's public JWKS."""
    from django.urls import reverse

    from lti_provider.models import Lti13Registration

    registration = Lti13Registration.objects.create(
        name="Test platform",
        issuer=platform.issuer,
        client_id=platform.client_id,
        auth_login_url=f"{platform.url}/auth",
        auth_token_url=f"{platform.url}/token",
        key_set_url=f"{platform.url}/jwks",
        deployment_ids=["deployment-1"],
    )
    # What the platform admin does with the tool's JWKS URL.
    platform.tool_jwks = client.get(reverse("lti_provider_lti13_jwks")).json()
    return registration


def start_login(client, platform, **params: str | None) -> dict[str, str]:
    """The OIDC login initiation, as the browser follows it; the auth request's parameters."""
    from urllib.parse import urlsplit

    from django.urls import reverse

    query = {
        "iss": platform.issuer,
        "login_hint": "opaque-hint",
        "target_link_uri": target_link_uri(),
        "client_id": platform.client_id,
        "lti_deployment_id": "deployment-1",
        **params,
    }
    response = client.get(
        reverse("lti_provider_lti13_login"),
        {k: v for k, v in query.items() if v is not None},
        secure=True,
    )
    assert response.status_code == 302, response.content
    location = response["Location"]
    assert location.startswith(f"{platform.url}/auth?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def post_launch(client, id_token: str | None, state: str | None, path: str | None = None):
    from django.urls import reverse

    data = {k: v for k, v in {"id_token": id_token, "state": state}.items() if v is not None}
    return client.post(path or reverse("lti_provider_lti13_launch"), data, secure=True)


def login_and_launch(client, platform, login: dict | None = None, **claims: Any):
    """A whole launch: login, then the platform's id_token for its nonce, posted with its state."""
    auth = start_login(client, platform, **(login or {}))
    claims.setdefault(CLAIM + "target_link_uri", target_link_uri())
    claims.setdefault("nonce", auth["nonce"])
    token = platform.id_token(**claims)
    return post_launch(client, token, auth["state"])
