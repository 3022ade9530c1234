"""``generate_verification_keys``: keys the app accepts, files only their owner reads."""

from __future__ import annotations

import re
import stat
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from verify_student import ssencrypt
from verify_student.checks import check_software_secure_settings
from verify_student.conf import parse_aes_key


def run(*args: str) -> str:
    out = StringIO()
    call_command("generate_verification_keys", *args, stdout=out)
    return out.getvalue()


def test_printed_keys_are_a_valid_aes_key_and_a_matching_rsa_pair():
    output = run()
    aes_key = re.search(r"FACE_IMAGE_AES_KEY:\n([0-9a-f]+)\n", output).group(1)
    assert len(parse_aes_key(aes_key)) == 32
    public = re.search(r"(-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----)", output, re.S)
    private = re.search(
        r"(-----BEGIN RSA PRIVATE KEY-----.+?-----END RSA PRIVATE KEY-----)", output, re.S
    )
    sealed = ssencrypt.rsa_encrypt(b"a photo key", public.group(1))
    assert ssencrypt.rsa_decrypt(sealed, private.group(1)) == b"a photo key"
    assert ssencrypt.load_rsa_key(public.group(1)).size_in_bits() == 2048


def test_each_run_makes_new_keys():
    assert run() != run()


def test_files_private_ones_for_the_owner_only_and_settings_that_pass_the_checks(
    tmp_path, settings
):
    directory = tmp_path / "keys"
    output = run("--directory", str(directory), "--rsa-bits", "3072")
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()}
    assert modes == {
        "face_image_aes_key.hex": 0o600,
        "rsa_private.pem": 0o600,
        "rsa_public.pem": 0o644,
    }
    assert ssencrypt.load_rsa_key((directory / "rsa_public.pem").read_text()).size_in_bits() == 3072

    snippet = output.split("Settings that read them:\n", 1)[1]
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - the printed settings, as a host pastes them
    config = namespace["VERIFY_STUDENT"]
    config["SOFTWARE_SECURE"].update(
        API_URL="https://reviewer.example.com/submit",
        API_ACCESS_KEY="access",
        API_SECRET_KEY="secret",
        STORAGE_CLASS="django.core.files.storage.FileSystemStorage",
        STORAGE_KWARGS={"location": str(tmp_path / "photos")},
    )
    settings.VERIFY_STUDENT = config
    assert check_software_secure_settings() == []


def test_existing_keys_are_not_replaced_without_force(tmp_path):
    run("--directory", str(tmp_path))
    before = (tmp_path / "face_image_aes_key.hex").read_text()
    with pytest.raises(CommandError, match="already exist"):
        run("--directory", str(tmp_path))
    assert (tmp_path / "face_image_aes_key.hex").read_text() == before
    run("--directory", str(tmp_path), "--force")
    assert (tmp_path / "face_image_aes_key.hex").read_text() != before


def test_it_runs_while_the_keys_are_malformed(settings, tmp_path, capsys):
    """The checks would stop other commands (exit 1); this one makes what they ask for."""
    from verify_student.management.commands.generate_verification_keys import Command

    settings.VERIFY_STUDENT = {"SOFTWARE_SECURE": {"FACE_IMAGE_AES_KEY": "short"}}
    argv = ["manage.py", "generate_verification_keys", "--directory", str(tmp_path)]
    Command().run_from_argv(argv)  # as manage.py runs it: checks first, unless exempt
    assert (tmp_path / "face_image_aes_key.hex").exists()


def test_bad_rsa_size_is_refused():
    with pytest.raises(CommandError):
        run("--rsa-bits", "1024")
