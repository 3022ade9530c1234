"""Make the keys a photo-verification deployment keeps: the AES key and an RSA pair.

- ``FACE_IMAGE_AES_KEY``: 32 random bytes as 64 hex characters; the site
  encrypts face photos with it. Keep it secret and keep it: photos stored
  with it cannot be read without it.
- An RSA key pair (PEM). In production the *reviewer* holds the private key
  and gives you its public key (``RSA_PUBLIC_KEY``); a pair made here is for
  the reviewer stand-in (development) or for in-house review
  (``RSA_PRIVATE_KEY_FOR_REVIEW``).

With ``--directory`` the keys are written to files (private ones readable by
their owner only) and the settings that read them are printed; without it
the keys themselves are printed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from Crypto.PublicKey import RSA
from django.core.management.base import BaseCommand, CommandError, CommandParser

AES_KEY_FILE = "face_image_aes_key.hex"
RSA_PRIVATE_FILE = "rsa_private.pem"
RSA_PUBLIC_FILE = "rsa_public.pem"
RSA_SIZES = (2048, 3072, 4096)

SETTINGS_TEMPLATE = """\
from pathlib import Path

VERIFICATION_KEYS = Path({directory!r})
VERIFY_STUDENT = {{
    "SOFTWARE_SECURE": {{
        "FACE_IMAGE_AES_KEY": (VERIFICATION_KEYS / "{aes}").read_text().strip(),
        # Production: the public key your review service gives you. The stand-in and
        # in-house review: this pair's public half.
        "RSA_PUBLIC_KEY": (VERIFICATION_KEYS / "{public}").read_text(),
        # "API_URL", "API_ACCESS_KEY", "API_SECRET_KEY": from your review service.
    }},
    # Only for the reviewer stand-in and in-house review (never your reviewer's key):
    "RSA_PRIVATE_KEY_FOR_REVIEW": (VERIFICATION_KEYS / "{private}").read_text(),
}}
"""


class Command(BaseCommand):
    help = (
        "Make the keys photo verification needs: FACE_IMAGE_AES_KEY (64 hex characters) "
        "and an RSA key pair in PEM (for the reviewer stand-in or in-house review; in "
        "production RSA_PUBLIC_KEY is your reviewer's). With --directory, writes "
        f"{AES_KEY_FILE}, {RSA_PRIVATE_FILE} (mode 600) and {RSA_PUBLIC_FILE} there and "
        "prints the settings that read them; without it, prints the keys."
    )
    # It makes the keys that the checks would report missing or malformed.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--directory",
            type=Path,
            help="Write the keys to files in this directory (made if missing) instead of "
            "printing them.",
        )
        parser.add_argument(
            "--rsa-bits",
            type=int,
            choices=RSA_SIZES,
            default=2048,
            help="Size of the RSA key (default 2048, as the review service uses).",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace key files that already exist (photos stored with an old AES "
            "key can no longer be read).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        aes_key = secrets.token_hex(32)
        rsa_key = RSA.generate(options["rsa_bits"])
        private_pem = rsa_key.export_key("PEM").decode("ascii") + "\n"
        public_pem = rsa_key.publickey().export_key("PEM").decode("ascii") + "\n"
        directory: Path | None = options["directory"]
        if directory is None:
            self.stdout.write(f"FACE_IMAGE_AES_KEY:\n{aes_key}\n")
            self.stdout.write(f"RSA public key (RSA_PUBLIC_KEY):\n{public_pem}")
            self.stdout.write(f"RSA private key (RSA_PRIVATE_KEY_FOR_REVIEW):\n{private_pem}")
            return
        files = {
            AES_KEY_FILE: (aes_key + "\n", 0o600),
            RSA_PRIVATE_FILE: (private_pem, 0o600),
            RSA_PUBLIC_FILE: (public_pem, 0o644),
        }
        existing = [name for name in files if (directory / name).exists()]
        if existing and not options["force"]:
            raise CommandError(
                f"{', '.join(existing)} already exist in {directory}: nothing was written. "
                "Photos stored with the current AES key need it to be read; use --force "
                "only if you mean to replace the keys."
            )
        directory.mkdir(parents=True, exist_ok=True)
        for name, (text, mode) in files.items():
            _write_private(directory / name, text, mode)
            self.stdout.write(f"wrote {directory / name} (mode {mode:o})")
        self.stdout.write("\nSettings that read them:\n")
        self.stdout.write(
            SETTINGS_TEMPLATE.format(
                directory=str(directory.resolve()),
                aes=AES_KEY_FILE,
                public=RSA_PUBLIC_FILE,
                private=RSA_PRIVATE_FILE,
            )
        )


def _write_private(path: Path, text: str, mode: int) -> None:
    """Write ``text`` to ``path`` with ``mode`` from the start (no window where others read it)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text)
    os.chmod(path, mode)  # the umask may have narrowed it
