"""The apps' URLs plus the bare baselines the benchmarks compare against.

``floor_callback`` is not a design: it bounds what any results callback
could reach on the machine (see ``benchmarks/callback.py``).
"""

import json
from functools import cache

from django.contrib.auth import login
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

#: The user the bare login view logs in, fetched once before timing starts.
PREFETCHED: dict[str, object] = {}


@csrf_exempt
def bare_login(request: HttpRequest) -> HttpResponse:
    """Only ``login()`` for a prefetched user: the floor an LTI launch is compared to."""
    login(request, PREFETCHED["user"], backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse("ok")


@csrf_exempt
def bare_json(request: HttpRequest) -> JsonResponse:
    """No database, no parsing: the floor the results callback is compared to."""
    return JsonResponse({"ok": True})


@cache
def _floor_sql() -> str:
    """PostgreSQL: approve a submitted attempt and add its history row, in one statement."""
    from verify_student.models import SoftwareSecurePhotoVerification as Attempt

    table = Attempt._meta.db_table
    history = Attempt.history.model._meta  # type: ignore[attr-defined]
    columns = [f.column for f in history.concrete_fields if f.column != "history_id"]
    values = {c: f"c.{c}" for c in columns} | {
        "history_date": "%(now)s",
        "history_type": "'~'",
        "history_change_reason": "NULL",
        "history_user_id": "NULL",
    }
    return (
        f"WITH c AS (UPDATE {table} SET status = 'approved', status_changed = %(now)s, "
        "updated_at = %(now)s, error_msg = '', error_code = '', reviewing_user_id = NULL, "
        "reviewing_service = 'SoftwareSecure' WHERE receipt_id = %(receipt)s "
        "AND status IN ('submitted', 'must_retry') RETURNING *), "
        f"h AS (INSERT INTO {history.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values[c] for c in columns)} FROM c) "
        "SELECT id FROM c"
    )


@csrf_exempt
def floor_callback(request: HttpRequest) -> HttpResponse:
    """A strict subset of the results callback's work, done as cheaply as it can be.

    The signature check, then the decision and its history row in a single
    SQL statement (autocommit: one round trip, one commit). No Date or replay
    check, no checkpoint statuses, no ORM, no signals: a floor for the
    callback's cost, not a way to build one.
    """
    from verify_student import ssencrypt
    from verify_student.conf import app_settings

    body = json.loads(request.body)
    headers = {
        "Authorization": request.headers.get("Authorization", ""),
        "Date": request.headers.get("Date", ""),
    }
    if not ssencrypt.has_valid_signature(
        "POST", headers, body, app_settings.api_access_key, app_settings.api_secret_key
    ):
        return HttpResponse("Access key invalid", status=400)
    with connection.cursor() as cursor:
        cursor.execute(_floor_sql(), {"now": timezone.now(), "receipt": str(body["EdX-ID"])})
        if cursor.fetchone() is None:
            return HttpResponse("not awaiting review", status=400)
    return HttpResponse("OK!", content_type="text/plain")


urlpatterns = [
    path("bench/bare-login", bare_login),
    path("bench/bare-json", bare_json),
    path("bench/floor-callback", floor_callback),
    path("verify_student/", include("verify_student.urls")),
    path("lti_provider/", include("lti_provider.urls")),
]
