"""Database-backed switches (django-config-models)."""

from __future__ import annotations

from config_models.models import ConfigurationModel


class InCourseReverificationConfiguration(ConfigurationModel):
    """Turns in-course re-verification on or off (deprecated in the original, kept)."""


class IcrvStatusEmailsConfiguration(ConfigurationModel):
    """Turns in-course re-verification (ICRV) status emails on; off by default."""
