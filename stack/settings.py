"""The demo site, scaled out: PostgreSQL, Redis (cache and broker), a Celery worker, S3.

Every process of the stack (two gunicorn web servers, the reviewer stand-in,
the Celery worker, management commands) loads these settings, so whatever
one process stores another can read: sessions and attempts in PostgreSQL,
spent LTI nonces too; LTI 1.3 login states, pending launches and login rate
counts in Redis; photos in S3 (moto's server).
Ports come from ``.stack/stack.json`` (see ``stack.layout``).
"""

import copy
import os
from urllib.parse import urlsplit

from stack.layout import (
    HOST,
    PG_DATABASE,
    PG_URL,
    S3_BUCKET,
    S3_CREDENTIALS,
    STACK_DIR,
    load_state,
    url,
)

# The demo keeps its generated secrets (SECRET_KEY, AES key...) under DEMO_DIR:
# every process of the stack must read the same ones.
os.environ.setdefault("DEMO_DIR", str(STACK_DIR / "demo"))

from demo.settings import *  # noqa: F403
from demo.settings import FEATURES, LTI_PROVIDER, VERIFY_STUDENT

_state = load_state()
_pg = urlsplit(PG_URL)

DEBUG = False
ALLOWED_HOSTS = [HOST, "localhost"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": PG_DATABASE,
        "USER": _pg.username or "postgres",
        "PASSWORD": _pg.password or "",
        "HOST": _pg.hostname or HOST,
        "PORT": str(_pg.port or 5432),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
}

_redis = f"redis://{HOST}:{_state['ports']['redis']}"
# One cache for all processes: the LTI launch state (LTI_PROVIDER['CACHE_ALIAS']) and
# the login rate counts must be shared, or a launch continued elsewhere would fail.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": f"{_redis}/0",
        "KEY_PREFIX": "stack",
    }
}

CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = f"{_redis}/1"
# Results are kept (briefly) so the end-to-end test can wait on a task it sent.
CELERY_RESULT_BACKEND = f"{_redis}/2"
CELERY_RESULT_EXPIRES = 3600
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_IMPORTS = ["verify_student.tasks", "lti_provider.tasks"]

# The learner's browser talks to web A or B; the review service calls back to
# SITE_NAME (web B); the Celery worker submits to the reviewer stand-in, a
# gunicorn process of its own serving this same site.
SITE_NAME = f"{HOST}:{_state['ports']['web_b']}"
HTTPS = "off"  # plain http on 127.0.0.1 (behind a TLS proxy: "on", see docs/SCALING.md)

VERIFY_STUDENT = copy.deepcopy(VERIFY_STUDENT)
VERIFY_STUDENT["SOFTWARE_SECURE"].update(
    {
        "API_URL": f"{url(_state, 'reviewer')}/verify_student/software-secure-fake-response/",
        "STORAGE_CLASS": "storages.backends.s3.S3Storage",
        "STORAGE_KWARGS": {
            "endpoint_url": url(_state, "moto"),
            "bucket_name": S3_BUCKET,
            **S3_CREDENTIALS,
        },
    }
)
# Short retries: a stack test should see a transient failure recover in seconds.
VERIFY_STUDENT["SUBMISSION_RETRY_BACKOFF"] = 2
LTI_PROVIDER = {**LTI_PROVIDER, "CACHE_ALIAS": "default", "OUTCOME_RETRY_BACKOFF": 2}
FEATURES = {**FEATURES, "ENABLE_SOFTWARE_SECURE_FAKE": True, "ENABLE_LTI_PROVIDER": True}
LTI_AGGREGATE_SCORE_PASSBACK_DELAY = 5

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "short": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "short"}},
    "loggers": {
        "verify_student": {"handlers": ["console"], "level": "INFO"},
        "lti_provider": {"handlers": ["console"], "level": "INFO"},
        "demo": {"handlers": ["console"], "level": "INFO"},
    },
}
