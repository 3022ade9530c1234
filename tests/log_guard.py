"""What must never appear in a log record: secrets, keys, signatures, image bytes."""

import logging
import re

from django.conf import settings

PATTERNS = [
    re.compile(r"oauth_signature['\"]?\s*[=:,]\s*['\"]?[A-Za-z0-9+/%]{10,}"),  # an OAuth signature
    re.compile(r"SSI [^\s:]+:[A-Za-z0-9+/]{20,}={0,2}"),  # a Software Secure Authorization value
    re.compile(r"Bearer [A-Za-z0-9._-]{20,}"),  # an access token
    re.compile(r"\\x89PNG|\\xff\\xd8\\xff|\x89PNG"),  # image bytes
    re.compile(r"-----BEGIN (RSA )?PRIVATE KEY-----"),
]


def secret_values() -> list[str]:
    """The test settings' secrets, and a few lines of the RSA private key."""
    software_secure = settings.VERIFY_STUDENT["SOFTWARE_SECURE"]
    private_pem = settings.VERIFY_STUDENT.get("RSA_PRIVATE_KEY_FOR_REVIEW") or ""
    pem_lines = [line for line in private_pem.splitlines() if line and "-----" not in line]
    return [
        software_secure["API_SECRET_KEY"],
        software_secure["FACE_IMAGE_AES_KEY"],
        *pem_lines[1:4],
        "reviewer-secret-",  # the test reviewer's secret (tests/verify_student/conftest.py)
        "consumer-secret",  # the LTI tests' consumer secrets
    ]


class RecordAll(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def find_leaks(records: list[logging.LogRecord]) -> list[str]:
    values = [value for value in secret_values() if value]
    leaks = []
    for record in records:
        try:
            text = record.getMessage()
        except Exception:  # arguments that cannot be formatted: look at them raw
            text = f"{record.msg} {record.args}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r}"
        found = [value for value in values if value in text]
        found += [pattern.pattern for pattern in PATTERNS if pattern.search(text)]
        if found:
            leaks.append(f"{record.name}:{record.levelname}: {found} in {text[:300]!r}")
    return leaks
