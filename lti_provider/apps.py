from django.apps import AppConfig


class LtiProviderConfig(AppConfig):
    name = "lti_provider"
    verbose_name = "LTI provider"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from . import checks, handlers  # noqa: F401  (registers system checks and receivers)

        handlers.connect_retirement_receiver()
