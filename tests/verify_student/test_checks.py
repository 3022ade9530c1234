"""Malformed settings: system checks at `manage.py check`, ImproperlyConfigured at use."""

import copy
import os

import pytest
from django.conf import settings as django_settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from verify_student.checks import (
    check_callback_is_https,
    check_deployment_settings,
    check_software_secure_settings,
)
from verify_student.conf import app_settings


@pytest.fixture
def software_secure(settings):
    """A mutable copy of VERIFY_STUDENT; assign it back to apply."""
    config = copy.deepcopy(django_settings.VERIFY_STUDENT)

    def apply(**changes):
        for key, value in changes.items():
            if value is None:
                config["SOFTWARE_SECURE"].pop(key, None)
            else:
                config["SOFTWARE_SECURE"][key] = value
        settings.VERIFY_STUDENT = config

    return apply


@pytest.fixture
def no_stand_in(settings):
    """The reviewer stand-in off (check --deploy reports it otherwise)."""
    settings.FEATURES = {**settings.FEATURES, "ENABLE_SOFTWARE_SECURE_FAKE": False}


def ids(messages):
    return sorted(m.id for m in messages)


def test_test_settings_are_clean():
    assert check_software_secure_settings() == []


@pytest.mark.parametrize("bad_key", ["", "abc", "g" * 64, "00" * 31, "00" * 33, b"00" * 32])
def test_aes_key_must_be_64_hex_chars(software_secure, bad_key):
    software_secure(FACE_IMAGE_AES_KEY=bad_key)
    messages = check_software_secure_settings()
    expected = "verify_student.W002" if bad_key == "" else "verify_student.E003"
    assert ids(messages) == [expected]
    with pytest.raises(ImproperlyConfigured, match="FACE_IMAGE_AES_KEY"):
        app_settings.face_image_aes_key


@pytest.mark.parametrize(
    "bad_key", ["not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]
)
def test_rsa_key_must_be_a_key(software_secure, bad_key):
    software_secure(RSA_PUBLIC_KEY=bad_key)
    assert ids(check_software_secure_settings()) == ["verify_student.E004"]
    with pytest.raises(ImproperlyConfigured, match="RSA_PUBLIC_KEY"):
        app_settings.rsa_public_key


def test_missing_keys_are_each_reported(software_secure, no_stand_in):
    software_secure(RSA_PUBLIC_KEY=None, API_URL=None, API_SECRET_KEY="")
    messages = check_software_secure_settings()
    # Warnings: a host that has not configured the reviewer yet still migrates and runs.
    assert ids(messages) == ["verify_student.W002"] * 3
    assert all(m.level == checks.WARNING for m in messages)
    assert "RSA_PUBLIC_KEY" in " ".join(m.msg for m in messages)
    assert "generate_verification_keys" in messages[0].hint
    deploy = check_deployment_settings()
    assert ids(deploy) == ["verify_student.E002"] * 3
    assert all(m.level == checks.ERROR for m in deploy)
    with pytest.raises(ImproperlyConfigured, match=r"RSA_PUBLIC_KEY.*not set"):
        app_settings.rsa_public_key


def test_unknown_storage_class(software_secure):
    software_secure(STORAGE_CLASS="nowhere.Storage")
    assert ids(check_software_secure_settings()) == ["verify_student.E006"]


def test_private_review_key_must_be_private(settings):
    config = copy.deepcopy(django_settings.VERIFY_STUDENT)
    config["RSA_PRIVATE_KEY_FOR_REVIEW"] = config["SOFTWARE_SECURE"]["RSA_PUBLIC_KEY"]
    settings.VERIFY_STUDENT = config
    assert ids(check_software_secure_settings()) == ["verify_student.E005"]
    with pytest.raises(ImproperlyConfigured, match="public key"):
        app_settings.rsa_private_key_for_review


def test_software_secure_must_be_a_dict(settings):
    settings.VERIFY_STUDENT = {"SOFTWARE_SECURE": "oops"}
    assert ids(check_software_secure_settings()) == ["verify_student.E001"]


def test_no_keys_needed_when_automatic_verification_for_testing(settings):
    settings.VERIFY_STUDENT = {}
    settings.FEATURES = {"AUTOMATIC_VERIFY_STUDENT_IDENTITY_FOR_TESTING": True}
    assert check_software_secure_settings() == []


@pytest.mark.django_db  # Django 6 runs the database checks too
def test_manage_py_check_fails_on_bad_settings(software_secure):
    software_secure(FACE_IMAGE_AES_KEY="short")
    with pytest.raises(SystemCheckError, match="E003"):
        call_command("check")


def test_http_callback_in_production_warns(settings):
    settings.DEBUG = False
    settings.HTTPS = "off"
    assert ids(check_callback_is_https()) == ["verify_student.W001"]
    settings.DEBUG = True
    assert check_callback_is_https() == []
    settings.DEBUG = False
    settings.HTTPS = "on"
    assert check_callback_is_https() == []


def test_hook_that_cannot_be_imported(settings):
    settings.VERIFY_STUDENT = {"FULL_NAME_RESOLVER": "nowhere.at_all"}
    with pytest.raises(ImproperlyConfigured, match="FULL_NAME_RESOLVER"):
        app_settings.FULL_NAME_RESOLVER


def test_defaults_without_settings(settings):
    del settings.VERIFY_STUDENT
    assert app_settings.DAYS_GOOD_FOR == 365
    assert app_settings.EXPIRING_SOON_WINDOW == 28
    assert app_settings.MAX_IMAGE_SIZE == 10 * 1024 * 1024
    assert app_settings.storage_class_path == "storages.backends.s3.S3Storage"
    with pytest.raises(ImproperlyConfigured, match="API_URL"):
        app_settings.api_url


def test_legacy_storage_keys_are_mapped(software_secure):
    software_secure(AWS_ACCESS_KEY="AK", AWS_SECRET_KEY="SK", S3_BUCKET="photos")
    kwargs = app_settings.storage_kwargs
    assert (kwargs["access_key"], kwargs["secret_key"], kwargs["bucket_name"]) == (
        "AK",
        "SK",
        "photos",
    )


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"PHOTO_RETENTION_DAYS": -1}, "verify_student.E007"),
        ({"PHOTO_RETENTION_DAYS": "30"}, "verify_student.E007"),
        ({"MAX_ATTEMPTS_PER_DAY": 0}, "verify_student.E009"),
        ({"MAX_ATTEMPTS_PER_DAY": "5"}, "verify_student.E009"),
        ({"FULL_NAME_RESOLVER": "nowhere.at_all"}, "verify_student.E008"),
        ({"CHECKPOINT_NAME_RESOLVER": "nowhere.at_all"}, "verify_student.E008"),
    ],
)
def test_policy_settings_are_checked(settings, changes, code):
    from verify_student.checks import check_policy_settings

    assert check_policy_settings() == []
    settings.VERIFY_STUDENT = {**settings.VERIFY_STUDENT, **changes}
    assert ids(check_policy_settings()) == [code]


# -- a host that configured nothing: migrate and check run, check --deploy refuses ---------


@pytest.fixture
def nothing_configured(settings):
    del settings.VERIFY_STUDENT
    settings.FEATURES = {}


@pytest.mark.django_db  # Django 6 runs the database checks too
def test_nothing_configured_warns_and_deploy_refuses(nothing_configured):
    warnings = check_software_secure_settings()
    assert ids(warnings) == ["verify_student.W002"] * 5 + ["verify_student.W003"]
    assert "bucket" in warnings[-1].msg
    call_command("check")  # warnings only: no SystemCheckError
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", deploy=True)
    text = str(raised.value)
    assert text.count("verify_student.E002") == 5
    assert "verify_student.E009" in text


def test_the_stand_in_is_reported_by_check_deploy(settings):
    settings.FEATURES = {**settings.FEATURES, "ENABLE_SOFTWARE_SECURE_FAKE": True}
    assert ids(check_deployment_settings()) == ["verify_student.W005"]
    settings.FEATURES = {**settings.FEATURES, "ENABLE_SOFTWARE_SECURE_FAKE": False}
    assert check_deployment_settings() == []


# -- the photo storage ---------------------------------------------------------------


def test_s3_without_a_bucket_is_named(software_secure, no_stand_in):
    software_secure(STORAGE_KWARGS={"region_name": "us-east-1"})
    (message,) = check_software_secure_settings()
    assert message.id == "verify_student.W003"
    assert "bucket_name" in message.msg
    assert ids(check_deployment_settings()) == ["verify_student.E009"]


def test_the_global_bucket_setting_of_django_storages_counts(software_secure, settings):
    software_secure(STORAGE_KWARGS={"region_name": "us-east-1"})
    settings.AWS_STORAGE_BUCKET_NAME = "photos"
    assert check_software_secure_settings() == []


def test_storage_kwargs_that_do_not_fit_are_an_error(software_secure):
    software_secure(
        STORAGE_CLASS="django.core.files.storage.FileSystemStorage",
        STORAGE_KWARGS={"bucket_name": "photos"},
    )
    (message,) = check_software_secure_settings()
    assert message.id == "verify_student.E010"
    assert "FileSystemStorage" in message.msg


def test_a_class_that_is_not_a_storage_is_an_error(software_secure):
    software_secure(STORAGE_CLASS="collections.OrderedDict")
    assert ids(check_software_secure_settings()) == ["verify_student.E010"]


def test_file_storage_in_a_directory_is_clean(software_secure, tmp_path):
    software_secure(
        STORAGE_CLASS="django.core.files.storage.FileSystemStorage",
        STORAGE_KWARGS={"location": str(tmp_path / "photos" / "not-yet-made")},
    )
    assert check_software_secure_settings() == []


def test_file_storage_without_a_location_warns_of_media_root(software_secure, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    software_secure(STORAGE_CLASS="django.core.files.storage.FileSystemStorage", STORAGE_KWARGS={})
    (message,) = check_software_secure_settings()
    assert message.id == "verify_student.W006"
    assert str(tmp_path) in message.msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_file_storage_that_cannot_be_written_is_named(software_secure, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        software_secure(
            STORAGE_CLASS="django.core.files.storage.FileSystemStorage",
            STORAGE_KWARGS={"location": str(locked / "photos")},
        )
        (message,) = check_software_secure_settings()
    finally:
        locked.chmod(0o700)
    assert message.id == "verify_student.W004"
    assert str(locked) in message.msg


def test_file_storage_on_a_file_is_named(software_secure, tmp_path):
    occupied = tmp_path / "a-file"
    occupied.write_text("")
    software_secure(
        STORAGE_CLASS="django.core.files.storage.FileSystemStorage",
        STORAGE_KWARGS={"location": str(occupied)},
    )
    assert ids(check_software_secure_settings()) == ["verify_student.W004"]
