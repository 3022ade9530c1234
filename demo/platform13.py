"""The LTI 1.3 platform the sandbox plays: what Canvas or Moodle do over LTI Advantage.

The demo site is both the platform and the tool, on the same host:port,
but the platform side below shares no code with ``lti_provider``: it signs
its id_tokens with PyJWT and its own RSA key, and checks the tool's requests
as an outside platform would.

* ``sandbox13``: a form choosing a registration, the learner's ``sub``,
  email, name and role; its POST keeps the launch's context under a random
  ``lti_message_hint`` and starts the third-party initiated login: the
  browser goes to the tool's OIDC login initiation URL.
* ``auth``: the platform's OIDC authorization endpoint. The tool's login
  sends the browser here with ``state``, ``nonce``, ``redirect_uri``...;
  the client id, the redirect URI (a launch URL of the tool on this site),
  the login hint and the message hint are checked, and the answer is a page
  that POSTs the signed id_token and the state to the redirect URI.
* ``jwks``: the platform's public key set, which the tool verifies id_tokens with.
* ``token``: the OAuth2 token endpoint: a client-credentials grant whose
  assertion is a JWT signed by the tool, checked against the tool's public
  key as the platform admin registered it; answers a bearer token.
* ``lineitem`` / ``scores``: the AGS line item of a block, and its score
  endpoint: checks the bearer token and its score scope, records the score
  in the sandbox's gradebook, marked "LTI 1.3 / AGS".

The platform's key pair is made on first use and kept under ``DEMO_DIR``
(``.demo/``, never committed). Tokens, message hints and assertion ids live
in the cache, like the gradebook.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django import forms
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from demo.consumer import add_gradebook_entry
from demo.seed import DEMO_BLOCKS, DEMO_COURSE
from lti_provider.models import Lti13Registration

log = logging.getLogger(__name__)

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_READ_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
GRANTABLE_SCOPES = (LINEITEM_READ_SCOPE, SCORE_SCOPE)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCORE_CONTENT_TYPE = "application/vnd.ims.lis.v1.score+json"
ROLES = {
    "Learner": "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
    "Instructor": "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",
}
#: The tool's URL names a platform may send an id_token to (its registered redirect URIs).
TOOL_LAUNCH_URL_NAMES = ("lti_provider_lti13_launch", "lti_provider_lti13_target")

ID_TOKEN_SECONDS = 300
HINT_SECONDS = 600
TOKEN_SECONDS = 3600
_HINT_KEY = "demo:lti13:hint:"
_TOKEN_KEY = "demo:lti13:token:"
_JTI_KEY = "demo:lti13:jti:"
KEY_FILE = "lti13_platform_key.pem"


@dataclass(frozen=True)
class DemoRegistration:
    name: str
    client_id: str
    deployment_id: str
    require_user_account: bool


#: The platforms the sandbox plays (each an ``Lti13Registration`` of the tool).
DEMO_REGISTRATIONS = [
    DemoRegistration("Demo LTI 1.3 platform", "demo-lti13-client", "demo-deployment-1", True),
    DemoRegistration("Demo LTI 1.3 open platform", "demo-lti13-open", "demo-deployment-1", False),
]


# --- the platform's key -----------------------------------------------------------------


def key_path() -> Path:
    """Where the platform's private key is kept: ``DEMO_DIR`` (``.demo/``), never the repo."""
    base = getattr(settings, "DEMO_DIR", None) or Path(settings.BASE_DIR) / ".demo"
    return Path(base) / KEY_FILE


@lru_cache(maxsize=4)
def _load_key(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".platform-key-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
            # Fails if another process made one first: theirs is kept.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def platform_key() -> rsa.RSAPrivateKey:
    """The platform's signing key, made on first use."""
    return _load_key(key_path())


def platform_jwk() -> dict[str, Any]:
    """The platform's public key as a JWK; its kid is the key's RFC 7638 thumbprint."""
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(platform_key().public_key()))
    return {**public, "kid": _thumbprint(public), "alg": "RS256", "use": "sig"}


def _thumbprint(jwk: dict[str, Any]) -> str:
    canonical = json.dumps(
        {k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- the tool's registrations (what the platform admin set up) --------------------------


def seed_registrations(base_url: str) -> list[Lti13Registration]:
    """Register the demo platforms in the tool, pointing at this site (idempotent).

    ``base_url`` is where the demo is served (the platforms' issuer); run
    again with another URL, the registrations follow it and keep their keys.
    """
    base = base_url.rstrip("/")
    platform_key()  # made now, not during the first launch
    urls = {
        "issuer": base,
        "auth_login_url": base + reverse("demo-lti13-auth", urlconf="demo.urls"),
        "auth_token_url": base + reverse("demo-lti13-token", urlconf="demo.urls"),
        "key_set_url": base + reverse("demo-lti13-jwks", urlconf="demo.urls"),
    }
    found = []
    with transaction.atomic():
        for demo in DEMO_REGISTRATIONS:
            fields = {
                **urls,
                "client_id": demo.client_id,
                "deployment_ids": [demo.deployment_id],
                "require_user_account": demo.require_user_account,
            }
            registration = Lti13Registration.objects.filter(name=demo.name).first()
            if registration is None:
                registration = Lti13Registration(name=demo.name)
            changed = [k for k, v in fields.items() if getattr(registration, k) != v]
            for name in changed:
                setattr(registration, name, fields[name])
            if registration.pk is None or changed:
                registration.clean()
                registration.save()
            found.append(registration)
    return found


def demo_registrations():
    """The registrations the sandbox can launch (the platforms this site plays)."""
    names = [demo.name for demo in DEMO_REGISTRATIONS]
    return Lti13Registration.objects.filter(name__in=names).order_by("pk")


# --- the sandbox: start a launch --------------------------------------------------------


class RegistrationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        kind = "requires an account" if obj.require_user_account else "anonymous learners"
        return f"{obj.name} ({kind})"


class Launch13Form(forms.Form):
    registration = RegistrationChoiceField(
        queryset=Lti13Registration.objects.none(),
        empty_label=None,
        help_text="The platform launching, as the tool has it registered (issuer, client id).",
    )
    sub = forms.CharField(
        label="Learner id at the platform (sub)", initial="platform-learner-1", max_length=255
    )
    send_email = forms.BooleanField(label="Send the email claim", required=False, initial=True)
    email = forms.EmailField(label="Email", required=False, initial="learner@demo.invalid")
    name = forms.CharField(label="Name (name claim)", required=False, initial="Lea Learner")
    block = forms.ChoiceField(label="Content", choices=DEMO_BLOCKS)
    send_ags = forms.BooleanField(
        label="Ask for the grade back (AGS claim with a line item and the score scope)",
        required=False,
        initial=True,
    )
    roles = forms.ChoiceField(choices=[(r, r) for r in ROLES], initial="Learner")
    target = forms.ChoiceField(
        label="Open the tool",
        choices=[("iframe", "in an iframe, as a course page does"), ("_self", "in this tab")],
        initial="iframe",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["registration"].queryset = demo_registrations()  # type: ignore[attr-defined]

    def clean(self):
        data = super().clean()
        if data.get("send_email") and not data.get("email"):
            self.add_error("email", "Give an email, or untick 'Send'.")
        return data


def item_id(usage_id: str) -> str:
    """The line item's id on the platform: the block's short name (quiz1, quiz2)."""
    return usage_id.rsplit("@", 1)[-1]


def start_login(request: HttpRequest, data: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """The tool's login initiation URL and its parameters; the launch's context kept by hint."""
    registration: Lti13Registration = data["registration"]
    hint = secrets.token_urlsafe(24)
    target_link_uri = request.build_absolute_uri(
        reverse("lti_provider_lti13_target", args=[DEMO_COURSE, data["block"]])
    )
    context = {
        "registration_id": registration.pk,
        "sub": data["sub"],
        "email": data["email"] if data.get("send_email") else "",
        "name": data.get("name") or "",
        "block": data["block"],
        "roles": [ROLES[data["roles"]]],
        "ags": bool(data.get("send_ags")),
        "target_link_uri": target_link_uri,
        "document_target": "iframe" if data["target"] == "iframe" else "window",
    }
    cache.set(_HINT_KEY + hint, context, HINT_SECONDS)
    params = [
        ("iss", registration.issuer),
        ("login_hint", data["sub"]),
        ("target_link_uri", target_link_uri),
        ("lti_message_hint", hint),
        ("client_id", registration.client_id),
        ("lti_deployment_id", registration.deployment_ids[0]),
    ]
    return request.build_absolute_uri(reverse("lti_provider_lti13_login")), params


def sandbox13(request: HttpRequest) -> HttpResponse:
    """GET: the LTI 1.3 launch form; POST: the page starting the third-party initiated login."""
    form = Launch13Form(request.POST or None)
    registrations = demo_registrations()
    if request.method == "POST" and form.is_valid():
        login_url, params = start_login(request, form.cleaned_data)
        return render(
            request,
            "demo/lti13_launch.html",
            {
                "login_url": login_url,
                "fields": params,
                "target": form.cleaned_data["target"],
                "registration": form.cleaned_data["registration"],
            },
        )
    origin = request.build_absolute_uri("/").rstrip("/")
    return render(
        request,
        "demo/lti13_sandbox.html",
        {
            "form": form,
            "registrations": registrations,
            "other_origin": [r.issuer for r in registrations if r.issuer != origin][:1],
            "tool_urls": {
                "OIDC login initiation": reverse("lti_provider_lti13_login"),
                "Launch (redirect URI)": reverse("lti_provider_lti13_launch"),
                "Public keyset (JWKS)": reverse("lti_provider_lti13_jwks"),
                "Configuration JSON": reverse("lti_provider_lti13_config"),
            },
        },
    )


# --- the platform's OIDC authorization endpoint -----------------------------------------


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _refusal(request: HttpRequest, exc: Refused) -> HttpResponse:
    log.warning("Demo LTI 1.3 platform refused a request: %s", exc.message)
    return render(
        request,
        "demo/message.html",
        {"title": "The demo platform refused this request", "detail": exc.message},
        status=exc.status,
    )


def check_redirect_uri(request: HttpRequest, redirect_uri: str) -> None:
    """The redirect URI must be a launch URL of the tool on this same site."""
    parts = urlsplit(redirect_uri)
    origin = urlsplit(request.build_absolute_uri("/"))
    if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc) or parts.query:
        raise Refused(400, "redirect_uri is not a URL of the registered tool.")
    try:
        match = resolve(parts.path)
    except Resolver404 as exc:
        raise Refused(400, "redirect_uri is not a launch URL of the registered tool.") from exc
    if match.url_name not in TOOL_LAUNCH_URL_NAMES:
        raise Refused(400, "redirect_uri is not a launch URL of the registered tool.")


def id_token_claims(
    request: HttpRequest, registration: Lti13Registration, context: dict[str, Any], nonce: str
) -> dict[str, Any]:
    """The resource link launch's claims, as a platform sends them."""
    now = int(time.time())
    block = context["block"]
    claims: dict[str, Any] = {
        "iss": registration.issuer,
        "aud": registration.client_id,
        "azp": registration.client_id,
        "sub": context["sub"],
        "iat": now,
        "exp": now + ID_TOKEN_SECONDS,
        "nonce": nonce,
        CLAIM + "message_type": "LtiResourceLinkRequest",
        CLAIM + "version": "1.3.0",
        CLAIM + "deployment_id": registration.deployment_ids[0],
        CLAIM + "target_link_uri": context["target_link_uri"],
        CLAIM + "resource_link": {
            "id": f"link-{item_id(block)}",
            "title": dict(DEMO_BLOCKS)[block],
        },
        CLAIM + "roles": context["roles"],
        CLAIM + "context": {
            "id": DEMO_COURSE,
            "label": "Verify101",
            "title": "Verify 101 (demo course)",
            "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
        },
        CLAIM + "custom": {"course_id": DEMO_COURSE, "usage_id": block},
        CLAIM + "tool_platform": {
            "guid": f"demo-platform-{registration.pk}",
            "name": registration.name,
            "product_family_code": "demo-sandbox",
        },
        CLAIM + "launch_presentation": {
            "document_target": context["document_target"],
            "return_url": request.build_absolute_uri(reverse("demo-lti13-sandbox")),
        },
    }
    if context["email"]:
        claims["email"] = context["email"]
    if context["name"]:
        claims["name"] = context["name"]
    if context["ags"]:
        lineitem = request.build_absolute_uri(
            reverse("demo-lti13-lineitem", args=[registration.pk, item_id(block)])
        )
        claims[AGS_CLAIM] = {
            "scope": list(GRANTABLE_SCOPES),
            "lineitem": lineitem,
            "lineitems": lineitem.rsplit("/", 1)[0],
        }
    return claims


def sign(claims: dict[str, Any]) -> str:
    return jwt.encode(
        claims, platform_key(), algorithm="RS256", headers={"kid": platform_jwk()["kid"]}
    )


@csrf_exempt  # the tool's login redirects the browser here (GET); OIDC also allows a POST
@never_cache
@require_http_methods(["GET", "POST"])
def auth(request: HttpRequest) -> HttpResponse:
    """The OIDC authorization endpoint: check the tool's auth request, send the id_token."""
    params = request.GET if request.method == "GET" else request.POST
    try:
        for name in ("client_id", "redirect_uri", "state", "nonce", "login_hint"):
            if not params.get(name):
                raise Refused(400, f"The authentication request has no {name}.")
        if "openid" not in params.get("scope", "").split():
            raise Refused(400, "scope must include openid.")
        if params.get("response_type") != "id_token":
            raise Refused(400, "response_type must be id_token.")
        if params.get("response_mode", "form_post") != "form_post":
            raise Refused(400, "response_mode must be form_post.")
        registration = demo_registrations().filter(client_id=params["client_id"]).first()
        if registration is None:
            raise Refused(400, "Unknown client_id: no such tool is registered on this platform.")
        redirect_uri = params["redirect_uri"]
        check_redirect_uri(request, redirect_uri)
        hint = params.get("lti_message_hint", "")
        context = cache.get(_HINT_KEY + hint) if hint else None
        if context is None or not cache.delete(_HINT_KEY + hint):
            raise Refused(
                400,
                "This launch is unknown, expired or already used: launch again from the sandbox.",
            )
        if context["registration_id"] != registration.pk:
            raise Refused(400, "The launch was started for another tool registration.")
        if not secrets.compare_digest(context["sub"], params["login_hint"]):
            raise Refused(400, "login_hint is not the learner this launch was started for.")
    except Refused as exc:
        return _refusal(request, exc)
    claims = id_token_claims(request, registration, context, params["nonce"])
    return render(
        request,
        "demo/lti13_auth_post.html",
        {
            "redirect_uri": redirect_uri,
            "fields": [("id_token", sign(claims)), ("state", params["state"])],
            "claims": json.dumps(claims, indent=2),
            "registration": registration,
        },
    )


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """The platform's public key set: the tool verifies id_tokens with it."""
    return JsonResponse({"keys": [platform_jwk()]})


# --- the token endpoint (AGS access tokens) ---------------------------------------------


def _token_error(status: int, error: str, description: str) -> JsonResponse:
    log.warning("Demo LTI 1.3 token endpoint: %s (%s)", error, description)
    return JsonResponse({"error": error, "error_description": description}, status=status)


@csrf_exempt  # the tool POSTs server to server; its signed assertion is the protection
@require_POST
def token(request: HttpRequest) -> JsonResponse:
    """Client credentials grant: the tool's assertion, verified with its registered key."""
    form = request.POST
    if form.get("grant_type") != "client_credentials":
        return _token_error(400, "unsupported_grant_type", "Only client_credentials.")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        return _token_error(400, "invalid_request", "client_assertion_type must be jwt-bearer.")
    assertion = form.get("client_assertion", "")
    try:
        kid = jwt.get_unverified_header(assertion).get("kid")
    except jwt.InvalidTokenError:
        return _token_error(400, "invalid_request", "client_assertion is not a JWT.")
    # The tool's public key, as the platform admin registered it (its JWKS URL or key).
    registration = demo_registrations().filter(key_id=kid or "").first()
    if registration is None:
        return _token_error(401, "invalid_client", "Unknown key id.")
    audiences = [registration.auth_token_url, request.build_absolute_uri()]
    try:
        claims = jwt.decode(
            assertion,
            registration.public_key_pem,
            algorithms=["RS256"],
            audience=audiences,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
        )
    except jwt.InvalidTokenError as exc:
        return _token_error(401, "invalid_client", f"Assertion refused: {exc}")
    if not claims["iss"] == claims["sub"] == registration.client_id:
        return _token_error(401, "invalid_client", "iss and sub must be the client id.")
    if not cache.add(_JTI_KEY + str(claims["jti"]), 1, TOKEN_SECONDS):
        return _token_error(401, "invalid_client", "This assertion was already used.")
    scopes = [s for s in form.get("scope", "").split() if s in GRANTABLE_SCOPES]
    if not scopes:
        return _token_error(400, "invalid_scope", "None of the requested scopes is granted.")
    access_token = secrets.token_urlsafe(32)
    cache.set(
        _TOKEN_KEY + access_token,
        {"registration_id": registration.pk, "scopes": scopes},
        TOKEN_SECONDS,
    )
    return JsonResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": " ".join(scopes),
        }
    )


def _bearer(request: HttpRequest, registration_id: int, scope: str) -> str:
    """'' when the request's bearer token was issued for this registration with ``scope``."""
    auth_header = request.headers.get("Authorization", "")
    if not auth_header.startswith("Bearer "):
        return "No bearer token."
    granted = cache.get(_TOKEN_KEY + auth_header.removeprefix("Bearer ").strip())
    if granted is None:
        return "Unknown or expired bearer token."
    if granted["registration_id"] != registration_id or scope not in granted["scopes"]:
        return "The token does not grant this scope on this line item."
    return ""


# --- AGS: the line items and their scores -----------------------------------------------


def _lineitem_block(item: str) -> tuple[str, str] | None:
    for usage_id, title in DEMO_BLOCKS:
        if item_id(usage_id) == item:
            return usage_id, title
    return None


@require_GET
def lineitem(request: HttpRequest, registration_id: int, item: str) -> JsonResponse:
    """The line item (``lineitem.readonly`` scope): one per demo block, out of 1."""
    problem = _bearer(request, registration_id, LINEITEM_READ_SCOPE)
    if problem:
        return JsonResponse({"error": problem}, status=401)
    block = _lineitem_block(item)
    if block is None:
        return JsonResponse({"error": "No such line item."}, status=404)
    return JsonResponse(
        {
            "id": request.build_absolute_uri(),
            "label": block[1],
            "scoreMaximum": 1,
            "resourceLinkId": f"link-{item}",
        },
        content_type="application/vnd.ims.lis.v2.lineitem+json",
    )


@csrf_exempt  # the tool POSTs server to server with its bearer token
@require_POST
def scores(request: HttpRequest, registration_id: int, item: str) -> HttpResponse:
    """The line item's score endpoint: verify the token, keep the score in the gradebook."""
    problem = _bearer(request, registration_id, SCORE_SCOPE)
    if problem:
        log.warning("Demo AGS score refused: %s", problem)
        return JsonResponse({"error": problem}, status=401)
    block = _lineitem_block(item)
    registration = demo_registrations().filter(pk=registration_id).first()
    if block is None or registration is None:
        return JsonResponse({"error": "No such line item."}, status=404)
    if request.content_type != SCORE_CONTENT_TYPE:
        return JsonResponse({"error": f"Content-Type must be {SCORE_CONTENT_TYPE}."}, status=415)
    try:
        score = json.loads(request.body)
        user_id = score["userId"]
        given, maximum = float(score["scoreGiven"]), float(score["scoreMaximum"])
        progress = (score["activityProgress"], score["gradingProgress"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": "Not an AGS score."}, status=400)
    if not (isinstance(user_id, str) and user_id) or not (
        math.isfinite(given) and math.isfinite(maximum) and maximum > 0 and given >= 0
    ):
        return JsonResponse({"error": "Not an AGS score."}, status=400)
    add_gradebook_entry(
        {
            "consumer": registration.name,
            "sourcedid": request.build_absolute_uri().removesuffix("/scores"),
            "learner": user_id,
            "block": block[1],
            "score": f"{given / maximum:g}",
            "detail": f"scoreGiven {given:g} / scoreMaximum {maximum:g}, {progress[0]}, "
            f"{progress[1]}",
            "via": "LTI 1.3 / AGS",
            "received": timezone.now(),
        }
    )
    return HttpResponse(status=204)
