from django.urls import path

from lti_provider import views

urlpatterns = [
    path(
        "courses/<str:course_id>/<str:usage_id>",
        views.lti_launch,
        name="lti_provider_launch",
    ),
    path("resume/<slug:token>", views.lti_launch_resume, name="lti_provider_resume"),
]
