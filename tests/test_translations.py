"""Every string a learner or staff member reads goes through gettext: ``makemessages``
runs clean for both apps, finds the pages' strings, and a catalog made from it is used.

``makemessages`` runs on a copy of each app (nothing is written into the checkout);
it needs GNU gettext (``apt-get install gettext``; ``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from tests.factories import UserFactory
from tests.lti_provider.conftest import FORM, launch_path

BASE_DIR = Path(__file__).resolve().parent.parent
DJANGO_ADMIN = Path(sys.executable).with_name("django-admin")
UNNAMED_PLACEHOLDER = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?[sdifrx]")

if shutil.which("xgettext") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("GNU gettext is needed in CI: apt-get install gettext")
    pytest.skip("GNU gettext is not installed (apt-get install gettext)", allow_module_level=True)

#: Strings each catalog must hold: templates, Python code, lazily translated class attributes.
EXPECTED = {
    "verify_student": [
        "Verify your identity",
        "Use the camera instead",
        "Take the photo",
        "Your photos are saved. They will be sent to the reviewer shortly; you do not need "
        "to do anything.",
        "The %(photo)s is larger than %(limit)s, the largest photo accepted. Choose a "
        "smaller photo or take a new one.",
        "photo of your face",
        "Identity verification is not available on this site yet. Try again later.",
        "Left unchanged (%(why)s): %(ids)s.",
        "Software Secure photo verification",
    ],
    "lti_provider": [
        "This content cannot be shown",
        "The LTI launch signature is not valid.",
        "A launch can be used only once. Go back to your learning platform and launch the "
        "content again from there (reloading this page does not work).",
        "Missing required LTI parameter(s): %(names)s",
        "Give these to the platform",
        "Launched content",
        "LTI consumer",
    ],
}


def makemessages(app: str, destination: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``django-admin makemessages`` run inside a copy of ``app`` (its own ``locale/``)."""
    copy = destination / app
    if not copy.exists():
        shutil.copytree(BASE_DIR / app, copy, ignore=shutil.ignore_patterns("__pycache__"))
        (copy / "locale").mkdir(exist_ok=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(BASE_DIR)}
    return subprocess.run(
        [str(DJANGO_ADMIN), "makemessages", "--locale", "de", "--verbosity", "1", *args],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def catalog(app: str, destination: Path, domain: str = "django") -> str:
    return (destination / app / "locale" / "de" / "LC_MESSAGES" / f"{domain}.po").read_text()


def msgids(po: str) -> set[str]:
    """The msgids of a .po file, with their continuation lines joined."""
    ids, current, reading = set(), [], False
    for line in po.splitlines():
        if line.startswith("msgid "):
            current, reading = [line[6:]], True
        elif reading and line.startswith('"'):
            current.append(line)
        elif reading:
            ids.add("".join(part.strip('"') for part in current).replace('\\"', '"'))
            reading = False
    return ids


@pytest.mark.parametrize("app", sorted(EXPECTED))
def test_makemessages_runs_clean_and_finds_the_strings(app, tmp_path):
    for domain in ("django", "djangojs"):
        result = makemessages(app, tmp_path, "--domain", domain)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "warning" not in output.lower(), output  # e.g. unnamed format arguments
    found = msgids(catalog(app, tmp_path))
    missing = [text for text in EXPECTED[app] if text not in found]
    assert not missing, f"not in {app}'s catalog: {missing}"
    # Translators may reorder placeholders only when each has a name.
    unnamed = [text for text in found if len(UNNAMED_PLACEHOLDER.findall(text)) > 1]
    assert not unnamed, f"messages with several unnamed placeholders: {unnamed}"


@pytest.fixture
def german(tmp_path, settings):
    """Catalogs made by makemessages, with two strings translated and compiled."""
    translations = {
        "verify_student": ('msgid "Verify your identity"', "Identität bestätigen"),
        "lti_provider": (
            'msgid "This content cannot be shown"',
            "Dieser Inhalt kann nicht angezeigt werden",
        ),
    }
    paths = []
    for app, (msgid, text) in translations.items():
        assert makemessages(app, tmp_path).returncode == 0
        po_path = tmp_path / app / "locale" / "de" / "LC_MESSAGES" / "django.po"
        po = po_path.read_text().replace("charset=CHARSET", "charset=UTF-8")
        po = po.replace(f'{msgid}\nmsgstr ""', f'{msgid}\nmsgstr "{text}"')
        po_path.write_text(po)
        mo_path = po_path.with_suffix(".mo")
        subprocess.run(["msgfmt", "-o", str(mo_path), str(po_path)], check=True, timeout=60)
        paths.append(str(tmp_path / app / "locale"))
    settings.LOCALE_PATHS = paths
    with translation.override("de"):
        yield


@pytest.mark.django_db
def test_the_pages_are_shown_in_the_learners_language(german, client, consumer):
    learner = Client()
    learner.force_login(UserFactory())
    assert "<h1>Identität bestätigen</h1>" in learner.get("/verify_student/verify/").text
    refused = client.post(launch_path(), "", content_type=FORM, secure=True)
    assert "<h1>Dieser Inhalt kann nicht angezeigt werden</h1>" in refused.content.decode()


@pytest.fixture
def consumer(db):
    from tests.factories import LtiConsumerFactory

    return LtiConsumerFactory()
