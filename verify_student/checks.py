"""System checks: malformed settings are reported by ``manage.py check``."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .conf import app_settings

_REQUIRED = ("API_URL", "API_ACCESS_KEY", "API_SECRET_KEY", "FACE_IMAGE_AES_KEY", "RSA_PUBLIC_KEY")


@checks.register(checks.Tags.compatibility)
def check_software_secure_settings(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report missing or malformed review-service settings."""
    if app_settings.automatic_verify_for_testing:
        return []  # nothing is encrypted or sent; keys are not needed
    errors: list[checks.CheckMessage] = []
    try:
        config = app_settings.SOFTWARE_SECURE
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="verify_student.E001")]
    for key in _REQUIRED:
        if not config.get(key):
            errors.append(
                checks.Error(
                    f"VERIFY_STUDENT['SOFTWARE_SECURE'][{key!r}] is not set.",
                    hint="Photo verification cannot encrypt or submit attempts without it.",
                    id="verify_student.E002",
                )
            )
    probes = (
        (config.get("FACE_IMAGE_AES_KEY"), lambda: app_settings.face_image_aes_key, "E003"),
        (config.get("RSA_PUBLIC_KEY"), lambda: app_settings.rsa_public_key, "E004"),
        (True, lambda: app_settings.rsa_private_key_for_review, "E005"),
    )
    for present, probe, code in probes:
        if not present:
            continue  # already reported as missing
        try:
            probe()
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id=f"verify_student.{code}"))
    errors.extend(_check_storage_class())
    return errors


def _check_storage_class() -> list[checks.CheckMessage]:
    path = app_settings.storage_class_path
    try:
        import_string(path)
    except ImportError as exc:
        return [
            checks.Error(
                f"VERIFY_STUDENT['SOFTWARE_SECURE']['STORAGE_CLASS'] = {path!r} "
                f"cannot be imported: {exc}",
                id="verify_student.E006",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def check_callback_is_https(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The reviewer's results callback URL must be https in production."""
    if not app_settings.debug and not app_settings.https:
        return [
            checks.Warning(
                "HTTPS is not 'on' while DEBUG is off: the review service would be told to "
                "send results to an http:// callback URL.",
                hint="Set HTTPS = 'on' in production.",
                id="verify_student.W001",
            )
        ]
    return []


@checks.register(checks.Tags.compatibility)
def check_policy_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report malformed retention and hook settings (read at use otherwise).

    A malformed ``RETIREMENT_SIGNAL`` needs no check: connecting its receiver at
    start-up already fails with ``ImproperlyConfigured``.
    """
    probes = (
        (lambda: app_settings.PHOTO_RETENTION_DAYS, "E007"),
        (lambda: app_settings.FULL_NAME_RESOLVER, "E008"),
        (lambda: app_settings.CHECKPOINT_NAME_RESOLVER, "E008"),
    )
    errors: list[checks.CheckMessage] = []
    for probe, code in probes:
        try:
            probe()
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id=f"verify_student.{code}"))
    return errors
