"""The Celery app a host project would define; the tests configure it from settings."""

from celery import Celery

app = Celery("tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.set_default()
