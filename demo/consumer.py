"""The LTI consumer sandbox: what Canvas or Moodle would do, played by the demo.

* ``sandbox``: a form choosing a consumer, a learner id, whether to send an
  email and outcome parameters; its POST signs the launch with oauthlib's
  ``Client`` (OAuth1 HMAC-SHA1, parameters in the body, the consumer's key
  and secret) and renders a form that posts itself to the launch URL, in
  this tab or in an iframe as a consumer's course page does.
* ``outcomes``: the consumer's Basic Outcomes service. It verifies the
  ``replaceResult`` request's OAuth1 signature (oauthlib's
  ``SignatureOnlyEndpoint``) and ``oauth_body_hash``, keeps the score and
  answers an ``imsx`` success envelope.
* ``gradebook``: the scores the outcome service received, and those the
  LTI 1.3 platform (``platform13.py``) received over AGS.

Received scores are kept in the cache: the demo's gradebook lives as long
as the server does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import threading
import uuid
from urllib.parse import parse_qsl

from django import forms
from django.core.cache import cache
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from lxml import etree
from oauthlib.oauth1 import (
    SIGNATURE_HMAC_SHA1,
    SIGNATURE_TYPE_BODY,
    Client,
    RequestValidator,
    SignatureOnlyEndpoint,
)

from demo.seed import DEMO_BLOCKS, DEMO_COURSE
from lti_provider.models import LtiConsumer

log = logging.getLogger(__name__)

OUTCOMES_NS = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"
GRADEBOOK_KEY = "demo:gradebook"
_gradebook_lock = threading.Lock()
_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def lti11_consumers():
    """The consumers that launch with LTI 1.1 (an LTI 1.3 registration's row does not)."""
    consumers = LtiConsumer.objects.order_by("pk")
    try:
        LtiConsumer._meta.get_field("lti13_registration")
    except FieldDoesNotExist:
        return consumers
    return consumers.filter(lti13_registration__isnull=True)


class ConsumerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        kind = "requires an account" if obj.require_user_account else "anonymous learners"
        return f"{obj.consumer_name} ({kind})"


class LaunchForm(forms.Form):
    consumer = ConsumerChoiceField(
        queryset=lti11_consumers(),
        empty_label=None,
        help_text="Whose key and secret sign the launch.",
    )
    user_id = forms.CharField(
        label="Learner id at the consumer (user_id)",
        initial="canvas-learner-1",
        max_length=255,
    )
    send_email = forms.BooleanField(
        label="Send lis_person_contact_email_primary", required=False, initial=True
    )
    email = forms.EmailField(label="Email", required=False, initial="learner@demo.invalid")
    block = forms.ChoiceField(label="Content", choices=DEMO_BLOCKS)
    send_outcome = forms.BooleanField(
        label="Ask for the grade back (lis_outcome_service_url, lis_result_sourcedid)",
        required=False,
        initial=True,
    )
    roles = forms.ChoiceField(
        choices=[("Learner", "Learner"), ("Instructor", "Instructor")], initial="Learner"
    )
    target = forms.ChoiceField(
        label="Open the tool",
        choices=[("iframe", "in an iframe, as a course page does"), ("_self", "in this tab")],
        initial="iframe",
    )

    def clean(self):
        data = super().clean()
        if data.get("send_email") and not data.get("email"):
            self.add_error("email", "Give an email, or untick 'Send'.")
        return data


def sign_launch(request: HttpRequest, data: dict) -> tuple[str, list[tuple[str, str]]]:
    """The launch URL and the signed form fields, as a consumer would POST them."""
    consumer: LtiConsumer = data["consumer"]
    launch_url = request.build_absolute_uri(
        reverse("lti_provider_launch", args=[DEMO_COURSE, data["block"]])
    )
    params = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": data["block"].rsplit("@", 1)[-1],
        "resource_link_title": dict(DEMO_BLOCKS)[data["block"]],
        "context_id": DEMO_COURSE,
        "context_title": "Verify 101 (demo course)",
        "user_id": data["user_id"],
        "roles": data["roles"],
        "tool_consumer_info_product_family_code": "demo-sandbox",
    }
    if data.get("send_email"):
        params["lis_person_contact_email_primary"] = data["email"]
    if data.get("send_outcome"):
        params["lis_outcome_service_url"] = request.build_absolute_uri(
            reverse("demo-lti-outcomes", args=[consumer.pk])
        )
        params["lis_result_sourcedid"] = f"{consumer.pk}:{data['user_id']}:{data['block']}"[:255]
    client = Client(
        consumer.consumer_key,
        client_secret=consumer.consumer_secret,
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_BODY,
    )
    _uri, _headers, body = client.sign(
        launch_url,
        http_method="POST",
        body=params,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return launch_url, parse_qsl(body, keep_blank_values=True)


def sandbox(request: HttpRequest) -> HttpResponse:
    """GET: the launch form and the consumers; POST: the signed, self-submitting launch."""
    consumers = lti11_consumers()
    form = LaunchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        launch_url, fields = sign_launch(request, form.cleaned_data)
        return render(
            request,
            "demo/lti_launch.html",
            {
                "launch_url": launch_url,
                "fields": fields,
                "target": form.cleaned_data["target"],
                "consumer": form.cleaned_data["consumer"],
            },
        )
    return render(request, "demo/lti_sandbox.html", {"form": form, "consumers": consumers})


# --- the consumer's outcome service ---------------------------------------------------


class ConsumerSideValidator(RequestValidator):
    """oauthlib's view of the one tool this consumer trusts: the consumer's own key."""

    def __init__(self, consumer: LtiConsumer) -> None:
        super().__init__()
        self.consumer = consumer

    @property
    def allowed_signature_methods(self):
        return (SIGNATURE_HMAC_SHA1,)

    @property
    def enforce_ssl(self) -> bool:
        return False  # the demo serves plain http on 127.0.0.1

    @property
    def dummy_client(self) -> str:
        return "demo-unknown-client"

    def check_client_key(self, client_key: str) -> bool:
        return 0 < len(client_key) <= 255

    def check_nonce(self, nonce: str) -> bool:
        return 0 < len(nonce) <= 255

    def validate_client_key(self, client_key: str, request) -> bool:
        return hmac.compare_digest(client_key, self.consumer.consumer_key)

    def get_client_secret(self, client_key: str, request) -> str:
        return self.consumer.consumer_secret

    def validate_timestamp_and_nonce(self, client_key, timestamp, nonce, request, **kwargs):
        # oauthlib has checked the timestamp's age; refuse a nonce seen before.
        return cache.add(f"demo:outcome-nonce:{client_key}:{timestamp}:{nonce}", 1, 1200)


def verify_outcome_request(request: HttpRequest, consumer: LtiConsumer) -> str:
    """'' when signature and body hash check out, else why not."""
    headers = {
        "Authorization": request.headers.get("Authorization", ""),
        "Content-Type": request.headers.get("Content-Type", ""),
    }
    endpoint = SignatureOnlyEndpoint(ConsumerSideValidator(consumer))
    valid, oauth_request = endpoint.validate_request(
        request.build_absolute_uri(), "POST", request.body.decode("utf-8", "replace"), headers
    )
    if not valid:
        return "OAuth1 signature refused"
    sent_hash = oauth_request.oauth_params.get("oauth_body_hash", "")
    body_hash = base64.b64encode(hashlib.sha1(request.body).digest()).decode()
    if not hmac.compare_digest(sent_hash, body_hash):
        return "oauth_body_hash does not match the body"
    return ""


def _pox_response(code: str, description: str, ref: str, operation: str) -> HttpResponse:
    ns = OUTCOMES_NS
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<imsx_POXEnvelopeResponse xmlns="{ns}">
  <imsx_POXHeader>
    <imsx_POXResponseHeaderInfo>
      <imsx_version>V1.0</imsx_version>
      <imsx_messageIdentifier>{uuid.uuid4().hex}</imsx_messageIdentifier>
      <imsx_statusInfo>
        <imsx_codeMajor>{code}</imsx_codeMajor>
        <imsx_severity>status</imsx_severity>
        <imsx_description>{description}</imsx_description>
        <imsx_messageRefIdentifier>{ref}</imsx_messageRefIdentifier>
        <imsx_operationRefIdentifier>{operation}</imsx_operationRefIdentifier>
      </imsx_statusInfo>
    </imsx_POXResponseHeaderInfo>
  </imsx_POXHeader>
  <imsx_POXBody><{operation}Response/></imsx_POXBody>
</imsx_POXEnvelopeResponse>
"""
    return HttpResponse(body, content_type="application/xml; charset=utf-8")


def _text(root, path: str) -> str:
    found = root.xpath(path, namespaces={"ns": OUTCOMES_NS})
    return str(found[0]).strip() if found else ""


@csrf_exempt  # the tool POSTs server to server, signed with OAuth1
@require_POST
def outcomes(request: HttpRequest, consumer_id: int) -> HttpResponse:
    """The consumer's Basic Outcomes endpoint: verify, keep the score, answer success."""
    consumer = get_object_or_404(LtiConsumer, pk=consumer_id)
    problem = verify_outcome_request(request, consumer)
    try:
        root = etree.fromstring(request.body, parser=_XML_PARSER)
    except etree.XMLSyntaxError:
        root = None
    if root is None:
        return _pox_response("failure", "Not a POX XML request.", "", "unknown")
    ref = _text(root, "//ns:imsx_messageIdentifier/text()")
    request_body = root.xpath("//ns:imsx_POXBody/*", namespaces={"ns": OUTCOMES_NS})
    operation = etree.QName(request_body[0]).localname if request_body else "unknown"
    operation = operation.removesuffix("Request")
    if problem:
        log.warning("Demo outcome service: %s (consumer %s).", problem, consumer.pk)
        return _pox_response("failure", problem, ref, operation)
    if operation != "replaceResult":
        return _pox_response("unsupported", f"{operation} is not supported.", ref, operation)
    sourcedid = _text(root, "//ns:sourcedId/text()")
    score = _text(root, "//ns:resultScore/ns:textString/text()")
    record_score(consumer, sourcedid, score)
    return _pox_response("success", f"Score for {sourcedid} is now {score}", ref, operation)


def record_score(consumer: LtiConsumer, sourcedid: str, score: str) -> None:
    parts = sourcedid.split(":", 2)
    entry = {
        "consumer": consumer.consumer_name,
        "sourcedid": sourcedid,
        "learner": parts[1] if len(parts) == 3 else "",
        "block": dict(DEMO_BLOCKS).get(parts[2], parts[2]) if len(parts) == 3 else "",
        "score": score,
        "via": "LTI 1.1 / Basic Outcomes",
        "received": timezone.now(),
    }
    add_gradebook_entry(entry)


def add_gradebook_entry(entry: dict) -> None:
    """Keep a received score, newest first (the LTI 1.3 platform's AGS scores too)."""
    with _gradebook_lock:
        book = cache.get(GRADEBOOK_KEY, [])
        book.insert(0, entry)
        cache.set(GRADEBOOK_KEY, book[:200], None)


def gradebook(request: HttpRequest) -> HttpResponse:
    """The scores the consumers' and platforms' services received, newest first."""
    return render(request, "demo/lti_gradebook.html", {"entries": cache.get(GRADEBOOK_KEY, [])})
