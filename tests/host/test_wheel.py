"""The built wheel holds what a host needs: code, templates, static files, migrations, LICENSE."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.host.conftest import BASE_DIR

APPS = ("verify_student", "lti_provider")
DATA_DIRS = ("templates", "static", "migrations")


def shipped_files() -> set[str]:
    """Every file of the apps' templates, static and migrations in the checkout."""
    files = set()
    for app in APPS:
        for folder in DATA_DIRS:
            for path in (BASE_DIR / app / folder).rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts:
                    files.add(path.relative_to(BASE_DIR).as_posix())
    return files


def test_the_wheel_lists_templates_static_migrations_and_the_license(built_wheel: Path):
    with zipfile.ZipFile(built_wheel) as wheel:
        names = set(wheel.namelist())
        (dist_info,) = {name.split("/")[0] for name in names if ".dist-info/" in name}
        license_text = wheel.read(f"{dist_info}/licenses/LICENSE").decode()
        metadata = wheel.read(f"{dist_info}/METADATA").decode()

    expected = shipped_files()
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    for needed in (
        "verify_student/templates/verify_student/verify.html",
        "verify_student/templates/verify_student/status.html",
        "verify_student/templates/verify_student/base.html",
        "verify_student/static/verify_student/verify.js",
        "verify_student/static/verify_student/status.js",
        "verify_student/static/verify_student/learner.css",
        "verify_student/migrations/0001_initial.py",
        "verify_student/management/commands/generate_verification_keys.py",
        "lti_provider/templates/lti_provider/base.html",
        "lti_provider/templates/lti_provider/error.html",
        "lti_provider/static/lti_provider/lti.css",
        "lti_provider/migrations/0001_initial.py",
    ):
        assert needed in names, needed

    assert license_text == (BASE_DIR / "LICENSE").read_text()
    assert license_text.lstrip().startswith("GNU AFFERO GENERAL PUBLIC LICENSE")
    assert "Version 3, 19 November 2007" in license_text
    assert "License-Expression: AGPL-3.0-or-later" in metadata
    assert "License-File: LICENSE" in metadata

    # Only the two apps are packaged: no tests, demo, stack or benchmarks.
    top = {name.split("/")[0] for name in names if not name.startswith(dist_info)}
    assert top == set(APPS)


def test_the_license_is_the_full_agpl_text():
    text = (BASE_DIR / "LICENSE").read_text()
    for part in (
        "Preamble",
        "TERMS AND CONDITIONS",
        "13. Remote Network Interaction;",
        "END OF TERMS AND CONDITIONS",
        "How to Apply These Terms to Your New Programs",
    ):
        assert part in text, part
    assert len(text.splitlines()) == 661
