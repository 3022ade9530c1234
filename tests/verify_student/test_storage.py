"""verify_student.storage against moto's S3 server and a real file system."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from freezegun import freeze_time
from storages.backends.s3 import S3Storage

from tests.verify_student.conftest import S3_CREDENTIALS, point_storage_at
from verify_student import conf, ssencrypt, storage
from verify_student.exceptions import PhotoStorageError

FACE_KEY = bytes.fromhex("32fe72aaf2abb44de9e161131b5435c8d37cbdb6f5df242ae860b283115f2dae")
IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def set_software_secure(settings, **values) -> None:
    """Replace top-level SOFTWARE_SECURE entries (None removes one)."""
    config = {**settings.VERIFY_STUDENT}
    software_secure = {**config["SOFTWARE_SECURE"]}
    for key, value in values.items():
        if value is None:
            software_secure.pop(key, None)
        else:
            software_secure[key] = value
    config["SOFTWARE_SECURE"] = software_secure
    settings.VERIFY_STUDENT = config


@pytest.fixture
def file_storage(settings, tmp_path):
    set_software_secure(
        settings,
        STORAGE_CLASS="django.core.files.storage.FileSystemStorage",
        STORAGE_KWARGS={"location": str(tmp_path), "base_url": "/photos/"},
    )
    return tmp_path


# -- presigned URL checks (moto serves presigned URLs but enforces neither ----------------
# -- their signature nor their expiry, so the tests check both themselves) ----------------


def _v2_valid(url: str, secret: str, now: datetime.datetime) -> bool:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    string_to_sign = f"GET\n\n\n{query['Expires']}\n{parts.path}"
    mac = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1)
    signed = hmac.compare_digest(base64.b64encode(mac.digest()).decode(), query["Signature"])
    return signed and now.timestamp() < int(query["Expires"])


def _hmac256(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _v4_valid(url: str, secret: str, now: datetime.datetime) -> bool:
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = dict(pairs)
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(pairs)
        if k != "X-Amz-Signature"
    )
    canonical_request = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    scope = query["X-Amz-Credential"].split("/", 1)[1]
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            query["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + secret).encode()
    for part in scope.split("/"):
        key = _hmac256(key, part)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    signed = hmac.compare_digest(expected, query["X-Amz-Signature"])
    signed_at = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.UTC
    )
    expires_at = signed_at + datetime.timedelta(seconds=int(query["X-Amz-Expires"]))
    return signed and now < expires_at


def presigned_url_valid(url: str, now: datetime.datetime) -> bool:
    """Would S3 accept this presigned GET at ``now``? (signature and expiry, V2 or V4)."""
    if "X-Amz-Signature" in url:
        return _v4_valid(url, S3_CREDENTIALS["secret_key"], now)
    return _v2_valid(url, S3_CREDENTIALS["secret_key"], now)


# -- get_storage ---------------------------------------------------------------------------


def test_default_storage_is_s3_with_signed_urls_for_image_link_duration(s3_photos):
    backend = storage.get_storage()

    assert isinstance(backend, S3Storage)
    assert backend.bucket_name == s3_photos.bucket
    assert backend.endpoint_url == s3_photos.endpoint_url
    assert backend.querystring_auth is True
    assert backend.querystring_expire == conf.IMAGE_LINK_DURATION == 5 * 24 * 60 * 60


def test_an_explicit_querystring_expire_is_kept(settings, s3_photos):
    point_storage_at(settings, querystring_expire=60)

    assert storage.get_storage().querystring_expire == 60


def test_default_storage_class_is_s3_when_not_set(settings):
    set_software_secure(settings, STORAGE_CLASS=None)

    assert isinstance(storage.get_storage(), S3Storage)


def test_the_same_settings_reuse_one_backend(s3_photos):
    assert storage.get_storage() is storage.get_storage()


def test_legacy_aws_keys_and_bucket_are_mapped(settings, s3_photos):
    set_software_secure(
        settings,
        STORAGE_KWARGS={"endpoint_url": s3_photos.endpoint_url, "region_name": "us-east-1"},
        AWS_ACCESS_KEY=S3_CREDENTIALS["access_key"],
        AWS_SECRET_KEY=S3_CREDENTIALS["secret_key"],
        S3_BUCKET=s3_photos.bucket,
    )

    backend = storage.get_storage()
    storage.save_photo("face/legacy", b"sealed")

    assert (backend.access_key, backend.secret_key, backend.bucket_name) == (
        "testing",
        "testing",
        s3_photos.bucket,
    )
    assert s3_photos.get("face/legacy") == b"sealed"


@pytest.mark.parametrize("path", ["no.such.Storage", "verify_student.storage.NoSuchStorage"])
def test_an_unimportable_storage_class_is_improperly_configured(settings, path):
    set_software_secure(settings, STORAGE_CLASS=path)

    with pytest.raises(ImproperlyConfigured, match=r"\['STORAGE_CLASS'\].*cannot be imported"):
        storage.get_storage()


def test_a_class_that_is_not_a_storage_is_improperly_configured(settings):
    set_software_secure(settings, STORAGE_CLASS="collections.OrderedDict")

    with pytest.raises(ImproperlyConfigured, match=r"\['STORAGE_CLASS'\].*not a Storage class"):
        storage.get_storage()


@pytest.mark.parametrize(
    "storage_class",
    ["storages.backends.s3.S3Storage", "django.core.files.storage.FileSystemStorage"],
)
def test_unknown_storage_kwargs_are_improperly_configured(settings, storage_class):
    set_software_secure(
        settings, STORAGE_CLASS=storage_class, STORAGE_KWARGS={"no_such_option": True}
    )

    with pytest.raises(ImproperlyConfigured, match=r"\['STORAGE_KWARGS'\]"):
        storage.get_storage()


# -- photo_path ------------------------------------------------------------------------------


def test_photo_path():
    assert storage.photo_path("face", "1234-abcd") == "face/1234-abcd"
    assert storage.photo_path("photo_id", "1234-abcd") == "photo_id/1234-abcd"


@pytest.mark.parametrize("receipt_id", ["", "a/b", "..", "../face"])
def test_photo_path_refuses_what_is_not_a_receipt_id(receipt_id):
    with pytest.raises(ValueError, match="not a receipt id"):
        storage.photo_path("face", receipt_id)


# -- S3 --------------------------------------------------------------------------------------


def test_s3_stores_exactly_the_given_ciphertext(s3_photos):
    sealed = ssencrypt.encrypt_and_encode(IMAGE, FACE_KEY)

    storage.save_photo("face/r1", sealed)

    stored = s3_photos.get("face/r1")
    assert stored == sealed
    assert IMAGE not in stored
    assert ssencrypt.decode_and_decrypt(stored, FACE_KEY) == IMAGE
    assert storage.read_photo("face/r1") == sealed


def test_s3_save_overwrites_the_same_path(s3_photos):
    storage.save_photo("photo_id/r1", b"first")
    storage.save_photo("photo_id/r1", b"second")

    assert s3_photos.object_keys() == ["photo_id/r1"]
    assert s3_photos.get("photo_id/r1") == b"second"


def test_s3_delete_is_idempotent(s3_photos):
    storage.save_photo("face/r1", b"sealed")

    storage.delete_photo("face/r1")
    storage.delete_photo("face/r1")

    assert s3_photos.object_keys() == []


def test_reading_a_missing_photo_is_a_storage_error(s3_photos):
    with pytest.raises(PhotoStorageError, match="Could not read photo face/missing"):
        storage.read_photo("face/missing")


def test_a_missing_bucket_is_a_storage_error_naming_the_s3_code(settings, s3_photos):
    point_storage_at(settings, bucket_name="no-such-bucket")

    with pytest.raises(PhotoStorageError, match="NoSuchBucket") as caught:
        storage.save_photo("face/r1", b"sealed-bytes")

    assert "sealed-bytes" not in str(caught.value)


@pytest.mark.parametrize(
    "operation",
    [
        lambda: storage.save_photo("face/r1", b"sealed-bytes"),
        lambda: storage.read_photo("face/r1"),
        lambda: storage.delete_photo("face/r1"),
    ],
    ids=["save", "read", "delete"],
)
def test_an_s3_outage_is_a_storage_error_without_data_or_keys(settings, closed_port, operation):
    from botocore.config import Config

    point_storage_at(
        settings,
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        access_key="outage-access-key",
        secret_key="outage-secret-key",
        # One attempt: botocore's default retries would only slow the test down.
        client_config=Config(retries={"total_max_attempts": 1}, connect_timeout=5),
    )

    with pytest.raises(PhotoStorageError, match="EndpointConnectionError") as caught:
        operation()

    message = str(caught.value)
    for secret in ("sealed-bytes", "outage-access-key", "outage-secret-key"):
        assert secret not in message


def test_s3_url_is_presigned_and_fetches_the_stored_ciphertext(s3_photos):
    storage.save_photo("face/r1", b"ciphertext")

    url = storage.photo_url("face/r1")

    assert url.startswith(f"{s3_photos.endpoint_url}/{s3_photos.bucket}/face/r1?")
    assert presigned_url_valid(url, datetime.datetime.now(datetime.UTC))
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"ciphertext"


@pytest.mark.parametrize("signature_version", [None, "s3v4"])
def test_s3_url_expires_after_image_link_duration(settings, s3_photos, signature_version):
    if signature_version:
        point_storage_at(settings, signature_version=signature_version)
    signed_at = datetime.datetime(2024, 3, 1, 12, 0, tzinfo=datetime.UTC)
    lifetime = datetime.timedelta(seconds=conf.IMAGE_LINK_DURATION)

    with freeze_time(signed_at):
        url = storage.photo_url("face/r1")

    assert presigned_url_valid(url, signed_at)
    assert presigned_url_valid(url, signed_at + lifetime - datetime.timedelta(seconds=1))
    assert not presigned_url_valid(url, signed_at + lifetime + datetime.timedelta(seconds=1))


def test_s3_url_follows_a_querystring_expire_override(settings, s3_photos):
    point_storage_at(settings, querystring_expire=60, signature_version="s3v4")
    signed_at = datetime.datetime(2024, 3, 1, 12, 0, tzinfo=datetime.UTC)

    with freeze_time(signed_at):
        url = storage.photo_url("face/r1")

    assert presigned_url_valid(url, signed_at + datetime.timedelta(seconds=59))
    assert not presigned_url_valid(url, signed_at + datetime.timedelta(seconds=61))


def test_a_tampered_presigned_url_is_not_valid(s3_photos):
    url = storage.photo_url("face/r1")
    now = datetime.datetime.now(datetime.UTC)

    assert presigned_url_valid(url, now)
    assert not presigned_url_valid(url.replace("face/r1", "face/r2"), now)


# -- any Storage: FileSystemStorage ----------------------------------------------------------


def test_file_system_storage_by_storage_class(file_storage):
    assert isinstance(storage.get_storage(), FileSystemStorage)

    storage.save_photo("face/r1", b"sealed")

    assert (file_storage / "face" / "r1").read_bytes() == b"sealed"
    assert storage.read_photo("face/r1") == b"sealed"
    assert storage.photo_url("face/r1") == "/photos/face/r1"


def test_file_system_storage_overwrites_instead_of_renaming(file_storage):
    storage.save_photo("photo_id/r1", b"first")
    storage.save_photo("photo_id/r1", b"second")

    assert [p.name for p in (file_storage / "photo_id").iterdir()] == ["r1"]
    assert storage.read_photo("photo_id/r1") == b"second"


def test_file_system_delete_is_idempotent(file_storage):
    storage.save_photo("face/r1", b"sealed")

    storage.delete_photo("face/r1")
    storage.delete_photo("face/r1")

    assert not (file_storage / "face" / "r1").exists()


def test_file_system_missing_photo_is_a_storage_error(file_storage):
    with pytest.raises(PhotoStorageError, match="FileNotFoundError"):
        storage.read_photo("face/missing")


def test_file_system_write_failure_is_a_storage_error(settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    set_software_secure(
        settings,
        STORAGE_CLASS="django.core.files.storage.FileSystemStorage",
        STORAGE_KWARGS={"location": str(blocker)},
    )

    with pytest.raises(PhotoStorageError, match="Could not store photo face/r1"):
        storage.save_photo("face/r1", b"sealed")


def test_a_url_that_cannot_be_signed_is_a_storage_error(settings, s3_photos):
    point_storage_at(settings, signature_version="no-such-signature-version")

    with pytest.raises(PhotoStorageError, match="Could not sign a URL for photo face/r1"):
        storage.photo_url("face/r1")
