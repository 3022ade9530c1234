"""``app_settings.enabled``: launches are on once the app is installed, unless a setting says no."""

from __future__ import annotations

import pytest
from django.test import override_settings

from lti_provider.checks import check_launches_enabled
from lti_provider.conf import app_settings
from lti_provider.models import LtiUser
from tests.lti_provider.conftest import FORM, launch_path

UNSET = object()


def flags(feature=UNSET, setting=UNSET) -> dict:
    """Settings with ``FEATURES['ENABLE_LTI_PROVIDER']`` and ``ENABLE_LTI_PROVIDER`` as given."""
    overrides: dict = {"FEATURES": {} if feature is UNSET else {"ENABLE_LTI_PROVIDER": feature}}
    if setting is not UNSET:
        overrides["ENABLE_LTI_PROVIDER"] = setting
    return overrides


@pytest.fixture
def no_flag_at_all(settings):
    """A host that never heard of the flags: no FEATURES, no ENABLE_LTI_PROVIDER."""
    del settings.FEATURES
    if hasattr(settings, "ENABLE_LTI_PROVIDER"):
        del settings.ENABLE_LTI_PROVIDER


def test_a_host_without_any_flag_serves_launches(no_flag_at_all, client, consumer, signed_launch):
    assert app_settings.enabled
    assert check_launches_enabled() == []
    response = client.post(launch_path(), signed_launch(), content_type=FORM, secure=True)
    assert response.status_code == 200
    assert LtiUser.objects.count() == 1


@pytest.mark.parametrize(
    ("feature", "setting", "enabled"),
    [
        (UNSET, UNSET, True),
        (True, UNSET, True),
        (UNSET, True, True),
        (True, True, True),
        (False, UNSET, False),
        (UNSET, False, False),
        (False, True, False),  # either one off turns launches off
        (True, False, False),
        (None, UNSET, False),
    ],
)
def test_both_flags_are_honoured(feature, setting, enabled):
    with override_settings(**flags(feature, setting)):
        assert app_settings.enabled is enabled


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (flags(False), "FEATURES['ENABLE_LTI_PROVIDER'] = False"),
        (flags(setting=False), "ENABLE_LTI_PROVIDER = False"),
    ],
)
def test_a_check_names_the_setting_that_turns_launches_off(overrides, named):
    with override_settings(**overrides):
        messages = check_launches_enabled()
    assert [message.id for message in messages] == ["lti_provider.I001"]
    assert named in messages[0].msg
    assert "403" in messages[0].msg


@pytest.mark.parametrize("overrides", [flags(False), flags(setting=False)])
def test_either_flag_off_refuses_the_launch(overrides, client, consumer, signed_launch):
    with override_settings(**overrides):
        response = client.post(launch_path(), signed_launch(), content_type=FORM, secure=True)
    assert response.status_code == 403
    assert not LtiUser.objects.exists()
