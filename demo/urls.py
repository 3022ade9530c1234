from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView

from demo import celery_app  # noqa: F401  (the demo's Celery app, eager)

urlpatterns = [
    path("", TemplateView.as_view(template_name="demo/index.html"), name="demo-index"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("verify_student/", include("verify_student.urls")),
    path("lti_provider/", include("lti_provider.urls")),
]
