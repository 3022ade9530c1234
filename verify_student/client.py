"""The HTTP client of the Software Secure review service.

``SoftwareSecureClient`` builds the signed submission exactly as the original
(``create_request``), sends it (``send_request``) and renders it for
debugging (``request_message_txt``). ``submit_attempt`` is what
``SoftwareSecurePhotoVerification.submit`` runs: it sends the attempt and
records the outcome with the model's locked transitions. Logs name receipt
ids only: never headers, bodies, keys or signed image URLs.
"""

from __future__ import annotations

import enum
import json
import logging
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import requests
from django.urls import reverse

from . import ssencrypt
from .conf import app_settings
from .exceptions import SubmissionError

if TYPE_CHECKING:
    from .models import SoftwareSecurePhotoVerification

log = logging.getLogger(__name__)

#: The longest reviewer answer kept in ``error_msg`` (the service's messages are short).
MAX_ERROR_MSG_LENGTH = 2000


class SubmissionOutcome(enum.Enum):
    """What became of a submission; the task retries only ``UNAVAILABLE``."""

    SUBMITTED = "submitted"  # 2xx (or testing mode)
    REFUSED = "refused"  # the service answered 4xx (or another non-2xx, non-5xx)
    UNAVAILABLE = "unavailable"  # network error, timeout or 5xx: worth retrying


def _is_success(status_code: int) -> bool:
    # Not ``response.ok``: that accepts redirects, which are not accepted here.
    return 200 <= status_code < 300


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost error under requests' and urllib3's wrappers."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException):
            inner = current.__cause__ or current.__context__
        if inner is None:
            break
        current = inner
    return current


def describe_network_error(exc: requests.RequestException) -> str:
    """A short description for ``error_msg``: the error kinds, never the URL."""
    if isinstance(exc, requests.Timeout):
        return f"Timed out talking to the review service ({type(exc).__name__})."
    cause = _root_cause(exc)
    detail = type(exc).__name__
    if cause is not exc:
        detail = f"{detail}: {type(cause).__name__}"
    return f"Could not reach the review service ({detail})."


class SoftwareSecureClient:
    """Builds, signs and sends submissions; settings come from ``conf`` unless overridden."""

    def __init__(
        self,
        *,
        api_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self._api_url = api_url
        self._access_key = access_key
        self._secret_key = secret_key
        self._timeout = timeout

    @property
    def api_url(self) -> str:
        return self._api_url or app_settings.api_url

    @property
    def access_key(self) -> str:
        return self._access_key or app_settings.api_access_key

    @property
    def secret_key(self) -> str:
        return self._secret_key or app_settings.api_secret_key

    @property
    def timeout(self) -> float:
        return self._timeout if self._timeout is not None else app_settings.REQUEST_TIMEOUT

    @staticmethod
    def callback_url() -> str:
        """Where the reviewer sends its result (``SendResponseTo``)."""
        scheme = "https" if app_settings.https else "http"
        return f"{scheme}://{app_settings.site_name}{reverse('verify_student_results_callback')}"

    @staticmethod
    def encrypted_user_photo_key() -> str:
        """``FACE_IMAGE_AES_KEY`` sealed with the reviewer's RSA key, MIME base64."""
        sealed = ssencrypt.rsa_encrypt(app_settings.face_image_aes_key, app_settings.rsa_public_key)
        return ssencrypt.encode_key_text(sealed)

    def create_request(
        self,
        attempt: SoftwareSecurePhotoVerification,
        copy_id_photo_from: SoftwareSecurePhotoVerification | None = None,
    ) -> tuple[dict[str, str], dict[str, Any]]:
        """``(headers, body)`` of the signed submission of ``attempt``.

        With ``copy_id_photo_from`` the ID photo (URL and sealed key) of that
        earlier attempt is sent again with this attempt's face photo.
        """
        if copy_id_photo_from is None:
            photo_id_url = attempt.image_url("photo_id")
            photo_id_key = attempt.photo_id_key
        else:
            photo_id_url = attempt.image_url(
                "photo_id", override_receipt_id=copy_id_photo_from.receipt_id
            )
            photo_id_key = copy_id_photo_from.photo_id_key
        body: dict[str, Any] = {
            "EdX-ID": str(attempt.receipt_id),
            "ExpectedName": attempt.name,
            "PhotoID": photo_id_url,
            "PhotoIDKey": photo_id_key,
            "SendResponseTo": self.callback_url(),
            "UserPhoto": attempt.image_url("face"),
            "UserPhotoKey": self.encrypted_user_photo_key(),
        }
        headers = {
            "Content-Type": "application/json",
            "Date": formatdate(timeval=None, localtime=False, usegmt=True),
        }
        _message, _signature, authorization = ssencrypt.generate_signed_message(
            "POST", headers, body, self.access_key, self.secret_key
        )
        headers["Authorization"] = authorization
        return headers, body

    @staticmethod
    def encode_body(body: dict[str, Any]) -> bytes:
        """The JSON sent on the wire: sorted keys, indented, UTF-8."""
        return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")

    def send_request(
        self,
        attempt: SoftwareSecurePhotoVerification,
        copy_id_photo_from: SoftwareSecurePhotoVerification | None = None,
    ) -> requests.Response:
        """POST the submission; a network failure raises ``SubmissionError``.

        TLS certificates are verified (the original turned that off) and
        redirects are not followed: the signed request goes to API_URL only.
        """
        headers, body = self.create_request(attempt, copy_id_photo_from=copy_id_photo_from)
        try:
            response = requests.post(
                self.api_url,
                headers=headers,
                data=self.encode_body(body),
                timeout=self.timeout,
                verify=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            description = describe_network_error(exc)
            log.warning("Submission of receipt %s failed: %s", attempt.receipt_id, description)
            raise SubmissionError(description) from exc
        log.info(
            "Sent receipt %s to the review service: HTTP %s.",
            attempt.receipt_id,
            response.status_code,
        )
        if copy_id_photo_from is not None:
            log.info(
                "Receipt %s re-used the photo ID of receipt %s.",
                attempt.receipt_id,
                copy_id_photo_from.receipt_id,
            )
        return response

    def request_message_txt(self, attempt: SoftwareSecurePhotoVerification) -> str:
        """The request as text (headers, blank line, JSON body), for a console; sends nothing."""
        headers, body = self.create_request(attempt)
        header_txt = "\n".join(f"{name}: {value}" for name, value in sorted(headers.items()))
        return header_txt + "\n\n" + self.encode_body(body).decode("utf-8")


def submit_attempt(
    attempt: SoftwareSecurePhotoVerification,
    copy_id_photo_from: SoftwareSecurePhotoVerification | None = None,
) -> SubmissionOutcome:
    """Send ``attempt`` for review, record the outcome on it and return it.

    2xx -> ``mark_submitted``; any other status or a network failure ->
    ``mark_must_retry`` with the reviewer's text or a short description of
    the error. Network failures are recorded, never raised. With
    ``FEATURES['AUTOMATIC_VERIFY_STUDENT_IDENTITY_FOR_TESTING']`` nothing is
    built or sent and the attempt is marked submitted.
    """
    if app_settings.automatic_verify_for_testing:
        log.info("Receipt %s marked submitted without sending (testing mode).", attempt.receipt_id)
        attempt.mark_submitted()
        return SubmissionOutcome.SUBMITTED
    try:
        response = SoftwareSecureClient().send_request(
            attempt, copy_id_photo_from=copy_id_photo_from
        )
    except SubmissionError as exc:
        attempt.mark_must_retry(str(exc))
        return SubmissionOutcome.UNAVAILABLE
    if _is_success(response.status_code):
        attempt.mark_submitted()
        return SubmissionOutcome.SUBMITTED
    log.warning(
        "The review service refused receipt %s: HTTP %s.",
        attempt.receipt_id,
        response.status_code,
    )
    text = response.text[:MAX_ERROR_MSG_LENGTH] or f"HTTP {response.status_code}"
    attempt.mark_must_retry(text)
    if response.status_code >= 500:
        return SubmissionOutcome.UNAVAILABLE
    return SubmissionOutcome.REFUSED
