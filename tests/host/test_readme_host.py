"""A fresh ``startproject`` host that follows the README's install section works at once.

No Celery app, photos in a ``FileSystemStorage``, the reviewer stand-in, and
only the settings the README shows (plus a login page, which every host has
of its own). Steps 2-3: ``migrate`` and ``check`` pass with nothing but the
apps installed, ``check --deploy`` refuses. Step 4: the keys made by the
command, the photos submitted on the shipped page and approved by the
stand-in; an LTI 1.1 launch signed by oauthlib's client goes through the
login and resumes, linked. All over real HTTP to ``runserver`` on 127.0.0.1.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY, Client

from tests.host.conftest import InstallSteps, run

PNG = b"\x89PNG\r\n\x1a\n" + b"a photo of a face" * 40
JPEG = b"\xff\xd8\xff\xe0" + b"a photo of an ID card" * 40
COURSE = "course-v1:Host+Course+Run"
USAGE = "block-v1:Host+Course+Run+type@problem+block@p1"
README_PORT = "127.0.0.1:8000"
LOGIN_TEMPLATE = """<!DOCTYPE html><html lang="en"><body><form method="post">{% csrf_token %}
{{ form.as_p }}<input type="hidden" name="next" value="{{ next }}"><button>Log in</button>
</form></body></html>"""
#: The host's own login page, which the README tells a host without one to add.
LOGIN_SETTINGS = '\nTEMPLATES[0]["DIRS"] = [BASE_DIR / "templates"]\n'
LOGIN_URLS = '\nurlpatterns += [path("accounts/", include("django.contrib.auth.urls"))]\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(python: Path, project: Path, *args: str, check: bool = True):
    return run([str(python), "manage.py", *args], cwd=project, check=check)


def append(path: Path, *blocks: str) -> None:
    path.write_text(path.read_text() + "".join(f"\n{block}" for block in blocks))


@pytest.fixture
def project(host_python, tmp_path) -> Path:
    """``django-admin startproject hostsite``: the project a new host starts from."""
    run([str(host_python), "-m", "django", "startproject", "hostsite", str(tmp_path)])
    assert not (tmp_path / "hostsite" / "celery.py").exists()  # no Celery app of its own
    return tmp_path


@pytest.fixture
def server(host_python, project) -> Iterator[str]:
    """``runserver`` of the host project (started by the test once it is configured)."""
    processes: list[subprocess.Popen[bytes]] = []
    port = free_port()

    def start() -> str:
        process = subprocess.Popen(
            [str(host_python), "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=project,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/accounts/login/", timeout=2)
                return url
            except requests.ConnectionError:
                assert process.poll() is None, "runserver exited"
                time.sleep(0.1)  # waiting on another process to listen
        pytest.fail("runserver did not answer")

    start.port = port  # type: ignore[attr-defined]
    yield start  # type: ignore[misc]
    for process in processes:
        process.terminate()
        process.wait(timeout=20)


def csrf_token(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10)
    page.raise_for_status()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def log_in(session: requests.Session, login_url: str, username: str) -> requests.Response:
    token = csrf_token(session, login_url)
    return session.post(
        login_url,
        data={"csrfmiddlewaretoken": token, "username": username, "password": "host-pass-1"},
        timeout=30,
    )


def signed_launch(url: str, key: str, secret: str, **params: str) -> str:
    client = Client(
        key,
        client_secret=secret,
        signature_type=SIGNATURE_TYPE_BODY,
        signature_method=SIGNATURE_HMAC_SHA1,
    )
    body = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": "link-1",
        "context_id": "context-1",
        "user_id": "moodle-learner-7",
        "roles": "Learner",
        **params,
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    _uri, _headers, signed = client.sign(
        url, http_method="POST", body=urlencode(body), headers=headers
    )
    return signed


def test_a_startproject_host_that_follows_the_readme_works(host_python, project, server):
    steps = InstallSteps.from_readme()
    settings_py = project / "hostsite" / "settings.py"
    urls_py = project / "hostsite" / "urls.py"

    # -- steps 2 and 3: nothing but the apps, their urls: migrate and check pass ----------
    append(settings_py, *steps.python_blocks(2, "settings.py"))
    append(urls_py, *steps.python_blocks(2, "urls.py"))
    step3 = steps.commands(3)
    assert step3 == [["migrate"], ["check"]]
    results = [manage(host_python, project, *command) for command in step3]
    checked = results[-1].stdout + results[-1].stderr
    assert "verify_student.W002" in checked and "verify_student.W003" in checked
    deploy = manage(host_python, project, "check", "--deploy", check=False)
    assert deploy.returncode != 0
    assert "verify_student.E002" in deploy.stderr

    # -- step 4: keys, photo storage on disk, the reviewer stand-in ------------------------
    step4 = steps.commands(4)
    assert ["generate_verification_keys", "--directory", "keys"] in step4
    for command in step4:
        manage(host_python, project, *command)
    assert (project / "keys" / "face_image_aes_key.hex").stat().st_mode & 0o077 == 0
    port = f"127.0.0.1:{server.port}"
    photo_settings = [
        block.replace(README_PORT, port) for block in steps.python_blocks(4, "settings.py")
    ]
    assert len(photo_settings) == 1 and "FileSystemStorage" in photo_settings[0]
    append(settings_py, *photo_settings, LOGIN_SETTINGS)
    append(urls_py, LOGIN_URLS)
    (project / "templates" / "registration").mkdir(parents=True)
    (project / "templates" / "registration" / "login.html").write_text(LOGIN_TEMPLATE)

    checked = manage(host_python, project, "check")
    assert "verify_student." not in checked.stdout + checked.stderr  # configured: no warnings
    manage(host_python, project, "migrate")
    manage(
        host_python,
        project,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; from lti_provider.models import LtiConsumer;"
        "User.objects.create_user('ada', 'ada@example.com', 'host-pass-1', first_name='Ada',"
        " last_name='Lovelace');"
        "LtiConsumer.objects.create(consumer_name='Moodle', consumer_key='moodle-key',"
        " consumer_secret='moodle-secret', require_user_account=True)",
    )
    url = server()

    # -- a photo submission on the shipped page, approved by the stand-in ----------------
    learner = requests.Session()
    log_in(learner, f"{url}/accounts/login/", "ada")
    verify_url = f"{url}/verify_student/verify/"
    token = csrf_token(learner, verify_url)
    sent = learner.post(
        verify_url,
        data={"csrfmiddlewaretoken": token},
        files={
            "face_image": ("face.png", PNG, "image/png"),
            "photo_id_image": ("id.jpg", JPEG, "image/jpeg"),
        },
        headers={"Referer": verify_url},
        allow_redirects=False,
        timeout=60,
    )
    assert sent.status_code == 302, sent.text[-2000:]
    assert sent.headers["Location"] == "/verify_student/verify/status/"
    deadline = time.monotonic() + 60
    status = {}
    while time.monotonic() < deadline:
        status = learner.get(f"{url}/verify_student/status/", timeout=10).json()
        if status["status"] == "approved":
            break
        time.sleep(0.2)  # the stand-in calls back from its own thread
    assert status["status"] == "approved", status
    page = learner.get(f"{url}/verify_student/verify/status/", timeout=10)
    assert 'data-state="approved"' in page.text

    # -- an LTI 1.1 launch through the login and resume -----------------------------------
    launch_url = f"{url}/lti_provider/courses/{COURSE}/{USAGE}"
    browser = requests.Session()
    launched = browser.post(
        launch_url,
        data=signed_launch(
            launch_url,
            "moodle-key",
            "moodle-secret",
            lis_person_contact_email_primary="ada@example.com",
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
        timeout=30,
    )
    assert launched.status_code == 302, launched.text[-2000:]
    login_url = launched.headers["Location"]
    assert urlsplit(login_url).path == "/accounts/login/"
    assert "next=/lti_provider/resume/" in login_url
    resumed = log_in(browser, f"{url}{login_url}", "ada")  # follows the redirects to the content
    assert resumed.status_code == 200, resumed.text[-2000:]
    assert urlsplit(resumed.url).path.startswith("/lti_provider/resume/")
    assert USAGE in resumed.text and "ada" in resumed.text
    linked = manage(
        host_python,
        project,
        "shell",
        "-c",
        "from lti_provider.models import LtiUser;"
        "print(list(LtiUser.objects.values_list('lti_user_id', 'edx_user__username')))",
    )
    assert "('moodle-learner-7', 'ada')" in linked.stdout
