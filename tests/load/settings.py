"""Settings of the load run's server process (`make load`): PostgreSQL, a shared cache.

The nonce store must be shared by every gunicorn worker (a per-process cache
would let a replay through another worker), so the cache is Django's
database cache here; production would use Redis or memcached.
"""

import os

import dj_database_url

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get(
            "LOAD_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/verify_lti_load"
        ),
        conn_max_age=60,
    )
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "load_cache",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}
FEATURES = {
    "ENABLE_LTI_PROVIDER": True,
    "AUTOMATIC_VERIFY_STUDENT_IDENTITY_FOR_TESTING": False,
    "ENABLE_SOFTWARE_SECURE_FAKE": False,
}
LTI_PROVIDER = {}  # production defaults: https public outcome URLs only
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
}
