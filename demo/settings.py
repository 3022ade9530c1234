"""Settings of the demo site that `make demo` serves on 127.0.0.1.

Everything embedded: SQLite under .demo/, photos (encrypted) in a local
directory, Celery eager. Set DEMO_S3_ENDPOINT (and DEMO_S3_BUCKET) to keep
the photos in S3 (or moto's S3 server) instead.
"""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEMO_DIR = Path(os.environ.get("DEMO_DIR") or BASE_DIR / ".demo")
KEYS = BASE_DIR / "demo" / "keys"


def _demo_secret(name: str, make=lambda: secrets.token_urlsafe(50)) -> str:
    """A random secret made on first run and kept under .demo/ (never in the repo)."""
    path = DEMO_DIR / name
    if not path.exists():
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
    return path.read_text()


SECRET_KEY = _demo_secret("secret_key")
DEBUG = os.environ.get("DEMO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "simple_history",
    "config_models",
    "verify_student",
    "lti_provider",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "demo.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DEMO_DIR / "demo.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "lti_provider.backends.LtiBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
STATIC_URL = "/static/"
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

PLATFORM_NAME = "Demo LMS"
SITE_NAME = os.environ.get("DEMO_SITE_NAME", "127.0.0.1:8000")
HTTPS = "off"  # the demo serves plain http on 127.0.0.1
SILENCED_SYSTEM_CHECKS = [
    "verify_student.W001",  # ...so an http callback URL is expected
    "lti_provider.W001",  # ...and cookies cannot be Secure; the sandbox frames the
    "lti_provider.W002",  # tool from the same site, so Lax cookies are kept
    "lti_provider.W090",  # one runserver process: its local-memory launch state is whole,
    "lti_provider.W091",  # and so are its login rate counts
]

FEATURES = {
    "ENABLE_LTI_PROVIDER": True,
    "ENABLE_SOFTWARE_SECURE_FAKE": True,
    "AUTOMATIC_VERIFY_STUDENT_IDENTITY_FOR_TESTING": False,
}

_storage: dict = {
    "STORAGE_CLASS": "django.core.files.storage.FileSystemStorage",
    "STORAGE_KWARGS": {"location": str(DEMO_DIR / "photos"), "base_url": "/demo-photos/"},
}
if os.environ.get("DEMO_S3_ENDPOINT"):
    _storage = {
        "STORAGE_CLASS": "storages.backends.s3.S3Storage",
        "STORAGE_KWARGS": {
            "endpoint_url": os.environ["DEMO_S3_ENDPOINT"],
            "bucket_name": os.environ.get("DEMO_S3_BUCKET", "verify-student-demo"),
            "access_key": os.environ.get("DEMO_S3_ACCESS_KEY", "testing"),
            "secret_key": os.environ.get("DEMO_S3_SECRET_KEY", "testing"),
            "region_name": "us-east-1",
        },
    }

VERIFY_STUDENT = {
    "DAYS_GOOD_FOR": 365,
    "EXPIRING_SOON_WINDOW": 28,
    "SOFTWARE_SECURE": {
        # The reviewer stand-in served by this same demo site.
        "API_URL": f"http://{SITE_NAME}/verify_student/software-secure-fake-response/",
        "API_ACCESS_KEY": "demo-access-key",
        "API_SECRET_KEY": _demo_secret("api_secret_key", lambda: secrets.token_urlsafe(30)),
        "FACE_IMAGE_AES_KEY": _demo_secret("face_aes_key", lambda: secrets.token_hex(32)),
        "RSA_PUBLIC_KEY": (KEYS / "rsa_test_public.pem").read_text(),
        **_storage,
    },
    "RSA_PRIVATE_KEY_FOR_REVIEW": (KEYS / "rsa_test_private.pem").read_text(),
    # The app's own learner pages (verify_student_verify, verify_student_status) in the demo's look.
    "BASE_TEMPLATE": "demo/base.html",
}

LTI_USER_EMAIL_DOMAIN = "lti.demo.invalid"
LTI_PROVIDER = {
    "LAUNCH_HANDLER": "demo.content.launch_handler",
    # The sandbox's outcome service is this same site, on http://127.0.0.1.
    "ALLOW_INSECURE_OUTCOME_URLS": True,
    "ALLOW_PRIVATE_OUTCOME_HOSTS": True,
}
# The sandbox shows the tool in an iframe of the same site, login page included.
X_FRAME_OPTIONS = "SAMEORIGIN"

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = False  # eager retries re-run at once instead of raising
CELERY_BROKER_URL = "memory://"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"short": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "short"}},
    "loggers": {
        "verify_student": {"handlers": ["console"], "level": "INFO"},
        "lti_provider": {"handlers": ["console"], "level": "INFO"},
        "demo": {"handlers": ["console"], "level": "INFO"},
    },
}
