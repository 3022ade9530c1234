from django.apps import AppConfig


class VerifyStudentConfig(AppConfig):
    name = "verify_student"
    verbose_name = "Student identity verification"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import checks, handlers  # noqa: F401  (registers receivers and checks)

        handlers.connect_retirement_receiver()
