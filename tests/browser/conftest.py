"""Browser tests: Playwright for Python drives Debian's Chromium against a live server.

The live server (pytest-django's ``live_server``) serves the demo site's
pages with demo-like settings: DEBUG off, photos encrypted on disk in a tmp
dir, Celery eager, and the reviewer stand-in on the same host:port, so the
whole round trip (submission, decryption, signed callback) is real HTTP on
127.0.0.1. No browser is downloaded: ``CHROMIUM`` (default
/usr/bin/chromium, from ``apt-get install chromium``) is used as it is.

Screenshots go to ``tests/artifacts/browser/``; with ``UPDATE_SCREENSHOTS=1``
the ones shown in the README are refreshed in ``docs/screenshots/``.
"""

from __future__ import annotations

import copy
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = BASE_DIR / "tests" / "artifacts" / "browser"
DOC_SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: How long a page may take to show what a test waits for (ms).
TIMEOUT_MS = 30_000


def _missing_browser() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    return ""


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Skip the ``browser`` tests, with the reason, where there is no browser.

    In CI (``CI=true``) a missing browser is an error: they must run there.
    """
    mine = [item for item in items if item.get_closest_marker("browser")]
    problem = _missing_browser()
    if not problem or not mine:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"Browser tests cannot run in CI: {problem}")
    skip = pytest.mark.skip(reason=f"browser tests skipped: {problem}")
    for item in mine:
        item.add_marker(skip)


@pytest.fixture(scope="module")
def _async_unsafe_allowed() -> Any:
    """Playwright's sync API keeps an event loop running in this thread; Django would
    then refuse the test's own ORM calls, so they are allowed while a browser runs."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser(_async_unsafe_allowed: Any) -> Any:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any, request: Any) -> Any:
    """``new_page(width=..., height=...)``: a page in a fresh context (its own cookies).

    A failing test leaves a screenshot of each of its pages in the artifacts dir.
    """
    contexts = []

    def make(width: int = 1100, height: int = 800) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    failed = getattr(request.node, "rep_call", None)
    for number, context in enumerate(contexts):
        if failed is not None and failed.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for index, page in enumerate(context.pages):
                name = f"FAILED-{request.node.name}-{number}-{index}.png"
                page.screenshot(path=str(ARTIFACTS / name), full_page=True)
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def save_screenshot(page: Any, name: str, **options: Any) -> Path:
    """A screenshot in the artifacts dir; copied to docs/screenshots with UPDATE_SCREENSHOTS=1."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), **options)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOC_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SCREENSHOTS / name)
    return path


@pytest.fixture(autouse=True)
def _demo_dir(settings: Any, tmp_path: Path) -> None:
    """The demo's own files (its LTI 1.3 platform key) in a tmp dir, not the checkout's .demo/."""
    settings.DEMO_DIR = tmp_path / "demo-dir"


@dataclass
class DemoSite:
    url: str
    passwords: dict[str, str]
    consumers: dict[str, Any]

    def login(self, page: Any, username: str, next_path: str = "/") -> None:
        page.goto(f"{self.url}/accounts/login/?next={next_path}")
        fill_login(page, username, self.passwords[username])


def fill_login(page: Any, username: str, password: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def use_demo_settings(settings: Any, base_url: str, photo_dir: Path) -> None:
    """Configure the site as ``demo/settings.py`` does, served at ``base_url``."""
    settings.DEBUG = False
    settings.ROOT_URLCONF = "demo.urls"
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [BASE_DIR / "demo" / "templates", *templates[0]["DIRS"]]
    settings.TEMPLATES = templates
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    # The reviewer's callback comes back to this same server, over plain http.
    settings.SITE_NAME = urlparse(base_url).netloc
    settings.HTTPS = "off"
    config = copy.deepcopy(settings.VERIFY_STUDENT)
    config["SOFTWARE_SECURE"].update(
        {
            "API_URL": f"{base_url}/verify_student/software-secure-fake-response/",
            "STORAGE_CLASS": "django.core.files.storage.FileSystemStorage",
            "STORAGE_KWARGS": {"location": str(photo_dir), "base_url": "/photos/"},
        }
    )
    config["BASE_TEMPLATE"] = "demo/base.html"
    settings.VERIFY_STUDENT = config
    settings.FEATURES = {**settings.FEATURES, "ENABLE_SOFTWARE_SECURE_FAKE": True}
    settings.LTI_PROVIDER = {
        **settings.LTI_PROVIDER,
        "LAUNCH_HANDLER": "demo.content.launch_handler",
        "ALLOW_INSECURE_OUTCOME_URLS": True,
        "ALLOW_PRIVATE_OUTCOME_HOSTS": True,
    }


def seeded_site(base_url: str) -> DemoSite:
    from demo.seed import seed

    data = seed()
    return DemoSite(
        url=base_url,
        passwords={username: password for _role, username, password in data.logins},
        consumers={consumer.consumer_name: consumer for consumer in data.consumers},
    )


@pytest.fixture
def demo_site(live_server: Any, settings: Any, tmp_path: Path) -> DemoSite:
    """The demo's pages and seed on the live server, configured as ``demo/settings.py``."""
    use_demo_settings(settings, live_server.url, tmp_path / "photos")
    return seeded_site(live_server.url)


@pytest.fixture
def photos(new_page: Any) -> dict[str, bytes]:
    """A face and an ID card, drawn by the browser: real PNGs the admin can display."""
    page = new_page(width=320, height=240)
    page.set_content(
        """<body style="margin:0;background:#dfe8f1">
        <div id="face" style="width:200px;height:200px;position:relative;background:#dfe8f1">
          <div style="position:absolute;left:40px;top:25px;width:120px;height:150px;
            border-radius:50%;background:#e9b88f"></div>
          <div style="position:absolute;left:72px;top:80px;width:14px;height:14px;
            border-radius:50%;background:#2b2b2b"></div>
          <div style="position:absolute;left:114px;top:80px;width:14px;height:14px;
            border-radius:50%;background:#2b2b2b"></div>
          <div style="position:absolute;left:80px;top:130px;width:40px;height:10px;
            border-radius:0 0 20px 20px;background:#a3413a"></div>
        </div>
        <div id="card" style="width:300px;height:190px;background:#fff;border:2px solid #13324f;
          border-radius:12px;font:16px sans-serif;padding:12px;box-sizing:border-box">
          <b>DEMO IDENTITY CARD</b><br><br>
          <span style="display:inline-block;width:70px;height:90px;background:#e9b88f"></span>
          <span style="display:inline-block;vertical-align:top;margin-left:10px">
            Lea Learner<br>born 2000-01-01<br>No. DEMO-0001</span>
        </div></body>"""
    )
    return {
        "face": page.locator("#face").screenshot(type="png"),
        "card": page.locator("#card").screenshot(type="png"),
    }
