"""The stack's web processes: ``gunicorn stack.wsgi:application``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stack.settings")

from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
