"""The app's settings: the only module that reads ``django.conf.settings``.

Every value is read when it is used, so ``override_settings`` works in tests
and a host may change settings without restarting anything. Defaults live
here, each documented on its property. Values that must be well formed
(keys, dotted paths) are checked on access and raise ``ImproperlyConfigured``
with a message that names the setting; ``checks.py`` reports the same
problems from ``manage.py check``.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal
from django.utils.module_loading import import_string

from . import ssencrypt

DEFAULT_STORAGE_CLASS = "storages.backends.s3.S3Storage"
#: Seconds a signed image URL stays valid (the original's IMAGE_LINK_DURATION).
IMAGE_LINK_DURATION = 5 * 60 * 60 * 24

DEFAULTS: dict[str, Any] = {
    "DAYS_GOOD_FOR": 365,
    "EXPIRING_SOON_WINDOW": 28,
    "SOFTWARE_SECURE": {},
    "VERIFIED_MODES": ["verified", "professional"],
    "CHECKPOINT_NAME_RESOLVER": None,
    "FULL_NAME_RESOLVER": None,
    "REQUEST_TIMEOUT": 30,
    "MAX_IMAGE_SIZE": 10 * 1024 * 1024,
    "RSA_PRIVATE_KEY_FOR_REVIEW": None,
    "SUBMISSION_MAX_RETRIES": 5,
    "SUBMISSION_RETRY_BACKOFF": 60,
    "CALLBACK_MAX_AGE": 3600,
    "MAX_ATTEMPTS_PER_DAY": 5,
    "PHOTO_RETENTION_DAYS": 30,
    "RETIREMENT_SIGNAL": None,
    "USE_CELERY": None,
    "BASE_TEMPLATE": "verify_student/base.html",
}


@lru_cache(maxsize=32)
def _import(path: str) -> Any:
    return import_string(path)


def import_hook(setting_name: str, path: str | None) -> Callable[..., Any] | None:
    """Import the dotted path of a host hook, naming the setting on failure."""
    if not path:
        return None
    try:
        return _import(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"VERIFY_STUDENT[{setting_name!r}] = {path!r} cannot be imported: {exc}"
        ) from exc


class AppSettings:
    """Typed, documented access to ``settings.VERIFY_STUDENT`` and friends."""

    def _get(self, name: str) -> Any:
        user = getattr(settings, "VERIFY_STUDENT", None) or {}
        return user.get(name, DEFAULTS[name])

    # -- policy ---------------------------------------------------------------
    @property
    def DAYS_GOOD_FOR(self) -> int:
        """Days an approved verification stays valid (original: 365)."""
        return int(self._get("DAYS_GOOD_FOR"))

    @property
    def EXPIRING_SOON_WINDOW(self) -> int:
        """Days before expiry from which a verification is "expiring soon" (28)."""
        return int(self._get("EXPIRING_SOON_WINDOW"))

    @property
    def VERIFIED_MODES(self) -> list[str]:
        """Enrollment modes that require ID verification."""
        return list(self._get("VERIFIED_MODES"))

    @property
    def MAX_IMAGE_SIZE(self) -> int:
        """Largest accepted decoded image, in bytes (10 MB)."""
        return int(self._get("MAX_IMAGE_SIZE"))

    @property
    def REQUEST_TIMEOUT(self) -> float:
        """Seconds to wait for the review service (connect and read)."""
        return float(self._get("REQUEST_TIMEOUT"))

    @property
    def SUBMISSION_MAX_RETRIES(self) -> int:
        """Times the submission task retries a network error or 5xx."""
        return int(self._get("SUBMISSION_MAX_RETRIES"))

    @property
    def SUBMISSION_RETRY_BACKOFF(self) -> int:
        """Base seconds of the submission task's exponential backoff."""
        return int(self._get("SUBMISSION_RETRY_BACKOFF"))

    @property
    def PHOTO_RETENTION_DAYS(self) -> int:
        """Days the photos of a decided (approved or denied) attempt are kept (30).

        Counted from the decision (``status_changed``);
        ``delete_expired_verification_photos`` deletes them afterwards.
        """
        value = self._get("PHOTO_RETENTION_DAYS")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ImproperlyConfigured(
                f"VERIFY_STUDENT['PHOTO_RETENTION_DAYS'] must be a whole number of days >= 0, "
                f"not {value!r}."
            )
        return value

    @property
    def MAX_ATTEMPTS_PER_DAY(self) -> int | None:
        """Attempts a learner may start in any 24 hours (5); None for no cap.

        Each attempt is a paid review; a learner with one in flight (ready or
        submitted) cannot start another at all.
        """
        value = self._get("MAX_ATTEMPTS_PER_DAY")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ImproperlyConfigured(
                "VERIFY_STUDENT['MAX_ATTEMPTS_PER_DAY'] must be a whole number >= 1 or None, "
                f"not {value!r}."
            )
        return value

    @property
    def CALLBACK_MAX_AGE(self) -> int:
        """Seconds the reviewer's signed Date may be from now, either way (3600)."""
        return int(self._get("CALLBACK_MAX_AGE"))

    @property
    def USE_CELERY(self) -> bool | None:
        """Whether tasks go to the host's Celery app: True, False or None (the default).

        None decides by looking: with a Celery app of the host's, tasks are
        queued on it; without one, they run in this process once the
        transaction commits. False always runs them in-process.
        """
        value = self._get("USE_CELERY")
        if value is not None and not isinstance(value, bool):
            raise ImproperlyConfigured(
                f"VERIFY_STUDENT['USE_CELERY'] must be True, False or None, not {value!r}."
            )
        return value

    @property
    def BASE_TEMPLATE(self) -> str:
        """The template the learner pages extend (``verify_student/base.html``).

        It must define ``{% block title %}`` and ``{% block content %}``; the
        pages put their stylesheet and script inside ``content``.
        """
        return str(self._get("BASE_TEMPLATE"))

    # -- host hooks -----------------------------------------------------------
    @property
    def CHECKPOINT_NAME_RESOLVER(self) -> Callable[[str], str] | None:
        """Dotted path to ``f(checkpoint_location) -> str`` naming a checkpoint."""
        return import_hook("CHECKPOINT_NAME_RESOLVER", self._get("CHECKPOINT_NAME_RESOLVER"))

    @property
    def FULL_NAME_RESOLVER(self) -> Callable[[Any], str] | None:
        """Dotted path to ``f(user) -> str``: the legal name copied at mark_ready."""
        return import_hook("FULL_NAME_RESOLVER", self._get("FULL_NAME_RESOLVER"))

    @property
    def RETIREMENT_SIGNAL(self) -> Signal | None:
        """Dotted path to the host's account retirement ``Signal`` (sent with ``user=``).

        When set, ``handlers.py`` connects ``api.retire_user`` to it; None (the
        default) connects nothing.
        """
        hook = import_hook("RETIREMENT_SIGNAL", self._get("RETIREMENT_SIGNAL"))
        if hook is not None and not isinstance(hook, Signal):
            raise ImproperlyConfigured(
                f"VERIFY_STUDENT['RETIREMENT_SIGNAL'] = {self._get('RETIREMENT_SIGNAL')!r} "
                "is not a django.dispatch.Signal."
            )
        return hook

    # -- the review service ---------------------------------------------------
    @property
    def SOFTWARE_SECURE(self) -> dict[str, Any]:
        """The review service settings (keys, URL, storage), as the original."""
        value = self._get("SOFTWARE_SECURE") or {}
        if not isinstance(value, dict):
            raise ImproperlyConfigured("VERIFY_STUDENT['SOFTWARE_SECURE'] must be a dict.")
        return value

    def software_secure(self, key: str) -> Any:
        """A required ``SOFTWARE_SECURE`` value; missing -> ImproperlyConfigured."""
        value = self.SOFTWARE_SECURE.get(key)
        if value in (None, ""):
            raise ImproperlyConfigured(f"VERIFY_STUDENT['SOFTWARE_SECURE'][{key!r}] is not set.")
        return value

    @property
    def api_url(self) -> str:
        return str(self.software_secure("API_URL"))

    @property
    def api_access_key(self) -> str:
        return str(self.software_secure("API_ACCESS_KEY"))

    @property
    def api_secret_key(self) -> str:
        return str(self.software_secure("API_SECRET_KEY"))

    @property
    def face_image_aes_key(self) -> bytes:
        """``FACE_IMAGE_AES_KEY`` decoded: it must be 64 hex characters (AES-256)."""
        text = self.software_secure("FACE_IMAGE_AES_KEY")
        return parse_aes_key(text)

    @property
    def rsa_public_key(self) -> str:
        """The reviewer's RSA public key (PEM), checked to be one."""
        text = self.software_secure("RSA_PUBLIC_KEY")
        try:
            ssencrypt.load_rsa_key(text)
        except ValueError as exc:
            raise ImproperlyConfigured(
                "VERIFY_STUDENT['SOFTWARE_SECURE']['RSA_PUBLIC_KEY'] is not an RSA key in PEM."
            ) from exc
        return str(text)

    @property
    def rsa_private_key_for_review(self) -> str | None:
        """RSA private key for in-house review (and the demo's reviewer stand-in)."""
        text = self._get("RSA_PRIVATE_KEY_FOR_REVIEW")
        if not text:
            return None
        try:
            key = ssencrypt.load_rsa_key(text)
        except ValueError as exc:
            raise ImproperlyConfigured(
                "VERIFY_STUDENT['RSA_PRIVATE_KEY_FOR_REVIEW'] is not an RSA key in PEM."
            ) from exc
        if not key.has_private():
            raise ImproperlyConfigured(
                "VERIFY_STUDENT['RSA_PRIVATE_KEY_FOR_REVIEW'] holds a public key, "
                "not a private one."
            )
        return str(text)

    @property
    def storage_class_path(self) -> str:
        return str(self.SOFTWARE_SECURE.get("STORAGE_CLASS") or DEFAULT_STORAGE_CLASS)

    @property
    def storage_kwargs(self) -> dict[str, Any]:
        """STORAGE_KWARGS with the original's legacy keys mapped onto S3Storage's names."""
        config = self.SOFTWARE_SECURE
        kwargs = dict(config.get("STORAGE_KWARGS") or {})
        legacy = {
            "AWS_ACCESS_KEY": "access_key",
            "AWS_SECRET_KEY": "secret_key",
            "S3_BUCKET": "bucket_name",
        }
        for old, new in legacy.items():
            if config.get(old):
                kwargs[new] = config[old]
        return kwargs

    # -- platform-wide settings the original read ----------------------------
    @property
    def features(self) -> dict[str, Any]:
        return dict(getattr(settings, "FEATURES", {}) or {})

    @property
    def automatic_verify_for_testing(self) -> bool:
        """``FEATURES['AUTOMATIC_VERIFY_STUDENT_IDENTITY_FOR_TESTING']``: skip crypto and HTTP."""
        return bool(self.features.get("AUTOMATIC_VERIFY_STUDENT_IDENTITY_FOR_TESTING"))

    @property
    def fake_software_secure_enabled(self) -> bool:
        return bool(self.features.get("ENABLE_SOFTWARE_SECURE_FAKE"))

    @property
    def platform_name(self) -> str:
        return str(getattr(settings, "PLATFORM_NAME", "") or "")

    @property
    def site_name(self) -> str:
        return str(getattr(settings, "SITE_NAME", "localhost:8000"))

    @property
    def https(self) -> bool:
        return getattr(settings, "HTTPS", "on") == "on"

    @property
    def debug(self) -> bool:
        return bool(settings.DEBUG)


def parse_aes_key(text: Any) -> bytes:
    """Decode a 64-hex-character AES-256 key or raise ImproperlyConfigured."""
    if not isinstance(text, str) or len(text) != 64:
        raise ImproperlyConfigured(
            "VERIFY_STUDENT['SOFTWARE_SECURE']['FACE_IMAGE_AES_KEY'] must be 64 hex characters."
        )
    try:
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(
            "VERIFY_STUDENT['SOFTWARE_SECURE']['FACE_IMAGE_AES_KEY'] must be 64 hex characters."
        ) from exc


app_settings = AppSettings()
