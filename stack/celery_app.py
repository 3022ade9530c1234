"""The stack's Celery app: ``celery -A stack.celery_app worker``.

Configured from the Django settings' ``CELERY_*`` names (broker on Redis);
the apps' tasks are ``shared_task``s, imported through ``CELERY_IMPORTS``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stack.settings")

app = Celery("stack")
app.config_from_object("django.conf:settings", namespace="CELERY")
