from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "Demo"

    def ready(self) -> None:
        # The demo's Celery app (eager): only when the demo site itself runs.
        from demo import celery_app  # noqa: F401
