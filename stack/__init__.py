"""The scale-out profile: the demo site on PostgreSQL, Redis, Celery and S3 (issue 9).

``python -m stack.run start|stop|status`` (``make stack``) runs it on 127.0.0.1.
"""
