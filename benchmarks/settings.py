"""Django settings for the benchmarks (and the results-callback server process).

The database comes from the environment, set by ``benchmarks.common.use_database``:
``BENCH_DB`` = ``sqlite`` (a file, ``BENCH_SQLITE_PATH``) or ``postgres``
(``BENCH_PG_URL``). Everything else is the test suite's configuration with
production-like choices: database sessions, persistent connections, no DEBUG.
"""

import os

from tests.settings import *  # noqa: F403 - the suite's keys, apps and middleware

BENCH_DB = os.environ.get("BENCH_DB", "sqlite")
PG_URL = os.environ.get(
    "BENCH_PG_URL", "postgres://postgres:postgres@127.0.0.1:5432/verify_lti_bench"
)


def _database(suffix: str = "") -> dict:
    if BENCH_DB == "postgres":
        import dj_database_url

        config = dj_database_url.parse(PG_URL, conn_max_age=60)
        config["NAME"] += suffix
        return config
    path = os.environ.get("BENCH_SQLITE_PATH", "/tmp/verify_lti_bench.sqlite3")
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": path + suffix}


DATABASES = {"default": _database()}
if os.environ.get("BENCH_SECOND_DB"):
    # The deadlines benchmark compares the same query on a big and a small table.
    DATABASES["small"] = _database("_small")
    DATABASE_ROUTERS = ["benchmarks.common.SwitchRouter"]

ROOT_URLCONF = "benchmarks.urls"
SESSION_ENGINE = "django.contrib.sessions.backends.db"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
MIDDLEWARE = [m for m in MIDDLEWARE if "simple_history" not in m]  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": True}

VERIFY_STUDENT = {
    **VERIFY_STUDENT,  # noqa: F405
    "SOFTWARE_SECURE": {
        **VERIFY_STUDENT["SOFTWARE_SECURE"],  # noqa: F405
        "STORAGE_CLASS": "django.core.files.storage.FileSystemStorage",
        "STORAGE_KWARGS": {"location": os.environ.get("BENCH_MEDIA", "/tmp/verify_lti_bench")},
    },
}
