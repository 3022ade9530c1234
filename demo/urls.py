from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from demo import consumer, content, platform13, views

admin.site.site_header = "Demo LMS administration"
admin.site.site_title = "Demo LMS"

urlpatterns = [
    path("", views.index, name="demo-index"),
    path("lti/sandbox/", consumer.sandbox, name="demo-lti-sandbox"),
    path("lti/outcomes/<int:consumer_id>/", consumer.outcomes, name="demo-lti-outcomes"),
    path("lti/gradebook/", consumer.gradebook, name="demo-lti-gradebook"),
    path("lti/content/score/", content.submit_score, name="demo-lti-score"),
    # The LTI 1.3 platform the sandbox plays (its OIDC auth, keys, token and AGS endpoints).
    path("lti/sandbox/lti13/", platform13.sandbox13, name="demo-lti13-sandbox"),
    path("lti/platform13/auth", platform13.auth, name="demo-lti13-auth"),
    path("lti/platform13/jwks.json", platform13.jwks, name="demo-lti13-jwks"),
    path("lti/platform13/token", platform13.token, name="demo-lti13-token"),
    path(
        "lti/platform13/lineitems/<int:registration_id>/<slug:item>",
        platform13.lineitem,
        name="demo-lti13-lineitem",
    ),
    path(
        "lti/platform13/lineitems/<int:registration_id>/<slug:item>/scores",
        platform13.scores,
        name="demo-lti13-scores",
    ),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("verify_student/", include("verify_student.urls")),
    path("lti_provider/", include("lti_provider.urls")),
]
