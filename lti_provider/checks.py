"""System checks: settings that would break LTI launches inside a consumer's iframe.

A consumer shows the tool in an iframe on its own site, so every request the
tool receives there is cross-site: browsers send a cookie with it only when
the cookie is ``SameSite=None`` and ``Secure``. Otherwise the session made by
a launch, and the CSRF cookie of the login page, are dropped, and the
login-and-resume flow cannot finish inside the frame.

These read Django's own cookie settings (not this app's), so they are read
here rather than through ``conf.py``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from lti_provider.conf import app_settings

_COOKIES = (
    ("session", "SESSION_COOKIE_SAMESITE", "SESSION_COOKIE_SECURE", "lti_provider.W001"),
    ("CSRF", "CSRF_COOKIE_SAMESITE", "CSRF_COOKIE_SECURE", "lti_provider.W002"),
)


@checks.register(checks.Tags.security)
def check_cross_site_cookies(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Warn when the LTI provider is on and its cookies would be dropped in an iframe."""
    if not app_settings.enabled:
        return []
    warnings: list[checks.CheckMessage] = []
    for cookie, samesite_name, secure_name, check_id in _COOKIES:
        samesite = getattr(settings, samesite_name, "Lax")
        secure = bool(getattr(settings, secure_name, False))
        if str(samesite) == "None" and secure:
            continue
        warnings.append(
            checks.Warning(
                f"The {cookie} cookie is SameSite={samesite!s}"
                f"{'; Secure' if secure else ' without Secure'}: browsers drop it in a "
                "consumer's cross-site iframe, so LTI launches there lose their login.",
                hint=f'Set {samesite_name} = "None" and {secure_name} = True (HTTPS only), '
                "or have consumers open the tool in a new window.",
                obj="settings",
                id=check_id,
            )
        )
    return warnings
