"""The apps' URLs plus the bare baselines the benchmarks compare against."""

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
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


urlpatterns = [
    path("bench/bare-login", bare_login),
    path("bench/bare-json", bare_json),
    path("verify_student/", include("verify_student.urls")),
    path("lti_provider/", include("lti_provider.urls")),
]
