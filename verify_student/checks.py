"""System checks: malformed settings are reported by ``manage.py check``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from django.utils.module_loading import import_string

from . import storage
from .conf import app_settings
from .exceptions import StorageNotConfigured

_REQUIRED = ("API_URL", "API_ACCESS_KEY", "API_SECRET_KEY", "FACE_IMAGE_AES_KEY", "RSA_PUBLIC_KEY")
_UNCONFIGURED_HINT = (
    "Photo submissions are answered 503 until it is set; "
    "`manage.py generate_verification_keys` makes the AES key (and an RSA pair for the "
    "reviewer stand-in). `check --deploy` reports this as an error."
)


@checks.register(checks.Tags.compatibility)
def check_software_secure_settings(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Report malformed review-service settings (errors) and unset ones (warnings).

    A host that has not configured the review service yet can still migrate
    and run: submissions are refused with 503 until it does.
    ``check_deployment_settings`` turns the unset ones into errors.
    """
    return _software_secure_messages(deploy=False)


@checks.register(checks.Tags.security, deploy=True)
def check_deployment_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy``: an unset reviewer key or storage is an error in production."""
    messages = [
        message
        for message in _software_secure_messages(deploy=True)
        if message.id in {"verify_student.E002", "verify_student.E009"}
    ]
    if app_settings.fake_software_secure_enabled:
        messages.append(
            checks.Warning(
                "FEATURES['ENABLE_SOFTWARE_SECURE_FAKE'] is on: the reviewer stand-in, which "
                "approves any readable photos, is served.",
                hint="Turn it off in production; it is for development and tests.",
                id="verify_student.W005",
            )
        )
    return messages


def _software_secure_messages(deploy: bool) -> list[checks.CheckMessage]:
    if app_settings.automatic_verify_for_testing:
        return []  # nothing is encrypted, stored or sent; keys are not needed
    try:
        config = app_settings.SOFTWARE_SECURE
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="verify_student.E001")]
    unset = checks.Error if deploy else checks.Warning
    messages: list[checks.CheckMessage] = [
        unset(
            f"VERIFY_STUDENT['SOFTWARE_SECURE'][{key!r}] is not set.",
            hint=_UNCONFIGURED_HINT,
            id="verify_student.E002" if deploy else "verify_student.W002",
        )
        for key in _REQUIRED
        if not config.get(key)
    ]
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
            messages.append(checks.Error(str(exc), id=f"verify_student.{code}"))
    messages.extend(_check_storage(deploy))
    return messages


def _check_storage(deploy: bool) -> list[checks.CheckMessage]:
    """The photo storage can be built, names where photos go, and (on disk) can be written."""
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
    try:
        backend = storage.get_storage()
    except StorageNotConfigured as exc:
        unset = checks.Error if deploy else checks.Warning
        return [
            unset(
                str(exc),
                hint="Photo submissions are answered 503 until a storage is configured.",
                id="verify_student.E009" if deploy else "verify_student.W003",
            )
        ]
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="verify_student.E010")]
    if isinstance(backend, FileSystemStorage):
        return _check_directory(backend)
    return []


def _check_directory(backend: FileSystemStorage) -> list[checks.CheckMessage]:
    location = Path(backend.location)
    messages: list[checks.CheckMessage] = []
    if "location" not in app_settings.storage_kwargs:
        messages.append(
            checks.Warning(
                "VERIFY_STUDENT['SOFTWARE_SECURE'] uses FileSystemStorage without a "
                f"'location': the encrypted photos would be written to {location} "
                "(MEDIA_ROOT), which may be served to anyone.",
                hint="Set STORAGE_KWARGS = {'location': <a directory that is not served>}.",
                id="verify_student.W006",
            )
        )
    existing = next((p for p in (location, *location.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        messages.append(
            checks.Warning(
                f"The photo storage directory {location} cannot be created or written "
                f"(checked {existing}).",
                hint="Photo submissions would be answered 503: fix the directory's "
                "permissions or set another STORAGE_KWARGS['location'].",
                id="verify_student.W004",
            )
        )
    return messages


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
        (lambda: app_settings.MAX_ATTEMPTS_PER_DAY, "E009"),
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
