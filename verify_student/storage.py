"""Where the encrypted photos live: a Django ``Storage`` built from the settings.

S3 through django-storages by default, any ``Storage`` subclass by
``VERIFY_STUDENT['SOFTWARE_SECURE']['STORAGE_CLASS']`` and ``STORAGE_KWARGS``
(the original's legacy ``AWS_ACCESS_KEY`` / ``AWS_SECRET_KEY`` / ``S3_BUCKET``
keys are mapped by ``conf.py``). Only ciphertext is ever handed to this module;
its errors never carry the data or any key, only the path and the error kind.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.utils.module_loading import import_string

from . import conf
from .conf import app_settings
from .exceptions import PhotoStorageError, StorageNotConfigured

log = logging.getLogger(__name__)

_CLASS_SETTING = "VERIFY_STUDENT['SOFTWARE_SECURE']['STORAGE_CLASS']"
_KWARGS_SETTING = "VERIFY_STUDENT['SOFTWARE_SECURE']['STORAGE_KWARGS']"
# What a backend raises when the service or the disk fails (boto's own errors
# for S3; OSError for file systems, including FileNotFoundError).
_STORAGE_ERRORS = (BotoCoreError, ClientError, OSError)

# Building an S3Storage creates a boto3 session; keep the few configured ones.
_storages: dict[str, Storage] = {}
_MAX_CACHED = 8


def _storage_class(path: str) -> type[Storage]:
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{_CLASS_SETTING} = {path!r} cannot be imported: {exc}"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Storage)):
        raise ImproperlyConfigured(f"{_CLASS_SETTING} = {path!r} is not a Storage class.")
    return cls


def _is_s3(cls: type[Storage]) -> bool:
    from storages.backends.s3 import S3Storage

    return issubclass(cls, S3Storage)


def get_storage() -> Storage:
    """The configured storage backend (S3 signed URLs last ``IMAGE_LINK_DURATION``).

    Raises ``ImproperlyConfigured`` when it cannot be built, and its subclass
    ``StorageNotConfigured`` for an S3 storage that names no bucket.
    """
    path = app_settings.storage_class_path
    cls = _storage_class(path)
    kwargs: dict[str, Any] = app_settings.storage_kwargs
    if _is_s3(cls):
        kwargs.setdefault("querystring_expire", conf.IMAGE_LINK_DURATION)
        # Signature v4: the only one newer AWS regions accept for presigned URLs.
        kwargs.setdefault("signature_version", "s3v4")
    cache_key = f"{path}|{sorted(kwargs.items())!r}"
    storage = _storages.get(cache_key)
    if storage is None:
        try:
            storage = cls(**kwargs)
        except (TypeError, ValueError, ImproperlyConfigured) as exc:
            raise ImproperlyConfigured(
                f"{_KWARGS_SETTING} does not suit {path}: {type(exc).__name__}: {exc}"
            ) from exc
        if _is_s3(cls) and not getattr(storage, "bucket_name", None):
            # boto3 would only fail at the first upload ("Required parameter name not set").
            raise StorageNotConfigured(
                f"{_CLASS_SETTING} is {path} but no bucket is named: set "
                f"{_KWARGS_SETTING}['bucket_name'] (or AWS_STORAGE_BUCKET_NAME), or choose "
                "another storage, e.g. django.core.files.storage.FileSystemStorage."
            )
        if len(_storages) >= _MAX_CACHED:
            _storages.clear()
        _storages[cache_key] = storage
    return storage


def photo_path(prefix: str, receipt_id: str) -> str:
    """``face/<receipt_id>`` or ``photo_id/<receipt_id>``: where an attempt's photo is kept."""
    if not receipt_id or "/" in receipt_id or ".." in receipt_id:
        raise ValueError(f"not a receipt id: {receipt_id!r}")
    return f"{prefix}/{receipt_id}"


def _failure(action: str, path: str, exc: Exception) -> PhotoStorageError:
    kind = type(exc).__name__
    if isinstance(exc, ClientError):
        kind = f"{kind} {exc.response.get('Error', {}).get('Code', '')}".strip()
    log.warning("Could not %s photo %s: %s", action, path, kind)
    return PhotoStorageError(f"Could not {action} photo {path}: {kind}")


def save_photo(path: str, data: bytes) -> None:
    """Store ``data`` at exactly ``path``, replacing what was there.

    S3Storage overwrites by default; a backend that would pick another name
    for an existing file (FileSystemStorage) has the old file deleted first.
    """
    storage = get_storage()
    try:
        if storage.get_available_name(path) != path:
            storage.delete(path)
        saved_as = storage.save(path, ContentFile(data))
    except _STORAGE_ERRORS as exc:
        raise _failure("store", path, exc) from exc
    if saved_as != path:
        raise PhotoStorageError(f"Could not store photo {path}: the storage saved it as {saved_as}")


def read_photo(path: str) -> bytes:
    """The stored (still encrypted) bytes at ``path``; missing -> PhotoStorageError."""
    try:
        with get_storage().open(path, "rb") as stored:
            return bytes(stored.read())
    except _STORAGE_ERRORS as exc:
        raise _failure("read", path, exc) from exc


def delete_photo(path: str) -> None:
    """Remove the photo at ``path``; deleting a missing photo is not an error."""
    try:
        get_storage().delete(path)
    except _STORAGE_ERRORS as exc:
        raise _failure("delete", path, exc) from exc


def stored_photos(prefix: str) -> list[str]:
    """The paths of every photo stored under ``prefix`` (``face`` or ``photo_id``)."""
    storage = get_storage()
    try:
        _folders, names = storage.listdir(prefix)
    except FileNotFoundError:  # a file system storage that never stored one
        return []
    except _STORAGE_ERRORS as exc:
        raise _failure("list", f"{prefix}/", exc) from exc
    return [f"{prefix}/{name}" for name in names]


def photo_stored_at(path: str) -> datetime:
    """When the photo at ``path`` was last written (aware, per the storage)."""
    try:
        return get_storage().get_modified_time(path)
    except _STORAGE_ERRORS as exc:
        raise _failure("date", path, exc) from exc


def photo_url(path: str) -> str:
    """A URL the reviewer can fetch the photo from (presigned for S3)."""
    try:
        return get_storage().url(path)
    except _STORAGE_ERRORS as exc:
        raise _failure("sign a URL for", path, exc) from exc
