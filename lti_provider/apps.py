from django.apps import AppConfig


class LtiProviderConfig(AppConfig):
    name = "lti_provider"
    verbose_name = "LTI provider"
    default_auto_field = "django.db.models.AutoField"
