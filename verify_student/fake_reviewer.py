"""A stand-in for the Software Secure review service, for the demo and the tests.

It is what the real service does, on this machine: check the submission's
signature, open the sealed AES keys with the reviewer's RSA private key
(``VERIFY_STUDENT['RSA_PRIVATE_KEY_FOR_REVIEW']``), decrypt both photos, decide,
and POST the signed verdict to the ``SendResponseTo`` callback. Only served
when ``FEATURES['ENABLE_SOFTWARE_SECURE_FAKE']`` is on.

The verdict is PASS when both photos decrypt to a JPEG or PNG image, FAIL
otherwise (with the original's reason categories). The callback is sent from
a background thread after the submission has been answered, as a real
reviewer answers later; it is retried briefly while the attempt is not yet
marked submitted, and on a 5xx.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote, urlparse

import requests

from . import api, ssencrypt, storage
from .conf import app_settings
from .exceptions import InvalidPhotoError, PhotoStorageError

log = logging.getLogger(__name__)

_PHOTO_PATH = re.compile(r"((?:face|photo_id)/[^/]+)$")
_CALLBACK_ATTEMPTS = (0.1, 0.2, 0.5, 1.0, 2.0, 4.0)  # seconds to wait before each try
_callbacks: list[threading.Thread] = []


@dataclass(frozen=True)
class Verdict:
    result: str  # PASS or FAIL
    reason: Any
    message_type: str


def _read_photo(url: str, sealed_key: str, private_key: str) -> bytes:
    """Decrypt the photo behind ``url`` (read through our storage: no fetch of a URL)."""
    match = _PHOTO_PATH.search(unquote(urlparse(url).path))
    if not match:
        raise InvalidPhotoError("not a photo URL of this site")
    aes_key = ssencrypt.rsa_decrypt(ssencrypt.decode_key_text(sealed_key), private_key)
    return ssencrypt.decode_and_decrypt(storage.read_photo(match.group(1)), aes_key)


def review(body: dict[str, Any]) -> Verdict:
    """Decide on a submission body as the reviewer would."""
    private_key = app_settings.rsa_private_key_for_review
    if private_key is None:
        return Verdict("SYSTEM FAIL", "The stand-in has no RSA private key.", "NO_KEY")
    reasons: dict[str, list[str]] = {}
    checks = (
        ("UserPhoto", "UserPhotoKey", "userPhotoReasons", "Image not clear"),
        ("PhotoID", "PhotoIDKey", "photoIdReasons", "Not provided"),
    )
    for url_field, key_field, category, problem in checks:
        try:
            image = _read_photo(str(body[url_field]), str(body[key_field]), private_key)
            api.validate_image(image)
        except (KeyError, ValueError, TypeError, PhotoStorageError):
            reasons.setdefault(category, []).append(problem)
    if not str(body.get("ExpectedName", "")).strip():
        reasons.setdefault("generalReasons", []).append("Name mismatch")
    if reasons:
        return Verdict("FAIL", [reasons], "You could not be verified.")
    return Verdict("PASS", "", "You have been verified.")


def signed_callback(callback_url: str, receipt_id: str, verdict: Verdict) -> requests.Response:
    """POST the verdict as the service does: Date and the JSON keys signed."""
    body = {
        "EdX-ID": receipt_id,
        "Result": verdict.result,
        "Reason": verdict.reason,
        "MessageType": verdict.message_type,
    }
    headers = {"Date": formatdate(usegmt=True), "Content-Type": "application/json"}
    _message, _signature, authorization = ssencrypt.generate_signed_message(
        "POST",
        {"Date": headers["Date"]},
        body,
        app_settings.api_access_key,
        app_settings.api_secret_key,
    )
    headers["Authorization"] = authorization
    return requests.post(
        callback_url, data=json.dumps(body), headers=headers, timeout=10, allow_redirects=False
    )


def call_back_later(callback_url: str, receipt_id: str, verdict: Verdict) -> threading.Thread:
    """Send the verdict from a thread, retrying while the attempt awaits its submission."""
    done = threading.Event()

    def run() -> None:
        for delay in _CALLBACK_ATTEMPTS:
            if done.wait(delay):
                return
            try:
                response = signed_callback(callback_url, receipt_id, verdict)
            except requests.RequestException as exc:
                log.warning("Stand-in callback for %s failed: %s", receipt_id, type(exc).__name__)
                continue
            if response.status_code == 200:
                log.info("Stand-in reviewer: %s -> %s.", receipt_id, verdict.result)
                return
            retry = response.status_code >= 500 or b"not awaiting review" in response.content
            if not retry:
                log.warning("Stand-in callback for %s: HTTP %s.", receipt_id, response.status_code)
                return
        log.error("Stand-in reviewer gave up calling back for %s.", receipt_id)

    thread = threading.Thread(target=run, name=f"fake-reviewer-{receipt_id}", daemon=True)
    _callbacks[:] = [t for t in _callbacks if t.is_alive()] + [thread]
    thread.start()
    return thread


def wait_for_callbacks(timeout: float = 30.0) -> bool:
    """Block until every callback sent so far is done (for tests); True if all finished."""
    for thread in list(_callbacks):
        thread.join(timeout)
    return not any(thread.is_alive() for thread in _callbacks)
