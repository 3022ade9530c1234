"""Django settings for the test suite (and `manage.py` in this repository).

SQLite by default; PostgreSQL when ``DATABASE_URL`` names one, e.g.
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/verify_lti_test``.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
TEST_DATA = BASE_DIR / "tests" / "data"

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
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

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "tests" / "templates"],
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

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'tests' / 'test.sqlite3'}", conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}

DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "tests",
    }
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "lti_provider.backends.LtiBackend",
]
LOGIN_URL = "/accounts/login/"
STATIC_URL = "/static/"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEFAULT_FROM_EMAIL = "verification@example.com"

PLATFORM_NAME = "Test LMS"
SITE_NAME = "testserver"
HTTPS = "on"

FEATURES = {
    "ENABLE_LTI_PROVIDER": True,
    "AUTOMATIC_VERIFY_STUDENT_IDENTITY_FOR_TESTING": False,
    "ENABLE_SOFTWARE_SECURE_FAKE": True,
}

VERIFY_STUDENT = {
    "DAYS_GOOD_FOR": 365,
    "EXPIRING_SOON_WINDOW": 28,
    "SOFTWARE_SECURE": {
        "API_ACCESS_KEY": "BBBBBBBBBBBBBBBBBBBB",
        "API_SECRET_KEY": "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC",
        "API_URL": "http://127.0.0.1:9/submit",  # tests point this at a real local server
        "FACE_IMAGE_AES_KEY": "32fe72aaf2abb44de9e161131b5435c8d37cbdb6f5df242ae860b283115f2dae",
        "RSA_PUBLIC_KEY": (TEST_DATA / "rsa_test_public.pem").read_text(),
        # Tests that touch storage start moto's S3 server and point this at it.
        "STORAGE_CLASS": "storages.backends.s3.S3Storage",
        "STORAGE_KWARGS": {
            "bucket_name": "verify-student-test",
            "access_key": "testing",
            "secret_key": "testing",
            "region_name": "us-east-1",
            "endpoint_url": os.environ.get("MOTO_S3_ENDPOINT", "http://127.0.0.1:9"),
        },
    },
    # Test/demo only: lets the reviewer stand-in decrypt what it receives.
    "RSA_PRIVATE_KEY_FOR_REVIEW": (TEST_DATA / "rsa_test_private.pem").read_text(),
    "VERIFIED_MODES": ["verified", "professional"],
}

LTI_USER_EMAIL_DOMAIN = "lti.example.com"
LTI_AGGREGATE_SCORE_PASSBACK_DELAY = 15 * 60
LTI_NONCE_WINDOW_SECONDS = 300
LTI_PROVIDER = {
    # Tests send outcomes to a real HTTP server on 127.0.0.1.
    "ALLOW_INSECURE_OUTCOME_URLS": True,
    "ALLOW_PRIVATE_OUTCOME_HOSTS": True,
}

# One test process (the checks themselves are tested by calling them).
SILENCED_SYSTEM_CHECKS = [
    "lti_provider.W001",
    "lti_provider.W002",
    "lti_provider.W090",
    "lti_provider.W091",
]

CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "root": {"handlers": ["null"], "level": "DEBUG"},
}
