from celery import Celery

app = Celery("demo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.set_default()
