from django.urls import path

from lti_provider import views

urlpatterns = [
    path(
        "courses/<str:course_id>/<str:usage_id>",
        views.lti_launch,
        name="lti_provider_launch",
    ),
    path("resume/<slug:token>", views.lti_launch_resume, name="lti_provider_resume"),
    # LTI 1.3
    path("lti13/login", views.lti13_login, name="lti_provider_lti13_login"),
    path("lti13/launch", views.lti13_launch, name="lti_provider_lti13_launch"),
    path(
        "lti13/courses/<str:course_id>/<str:usage_id>",
        views.lti13_launch,
        name="lti_provider_lti13_target",
    ),
    path("lti13/jwks.json", views.lti13_jwks, name="lti_provider_lti13_jwks"),
    path("lti13/config.json", views.lti13_config, name="lti_provider_lti13_config"),
]
