from django.urls import path

from . import pages, views

urlpatterns = [
    # The learner's pages (they extend VERIFY_STUDENT["BASE_TEMPLATE"]).
    path("verify/", pages.verify, name="verify_student_verify"),
    path("verify/status/", pages.status, name="verify_student_status"),
    path("results_callback", views.results_callback, name="verify_student_results_callback"),
    path("submit-photos/", views.submit_photos, name="verify_student_submit_photos"),
    path("status/", views.verification_status_api, name="verification_status_api"),
    path(
        "status/<str:username>/",
        views.verification_status_api,
        name="verification_status_api_for_user",
    ),
    path(
        "software-secure-fake-response/",
        views.software_secure_fake_response,
        name="software-secure-fake-response",
    ),
]
