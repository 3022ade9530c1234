"""Authentication backend for learners who arrive through an LTI launch."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend
from django.http import HttpRequest

from lti_provider.models import LtiConsumer, LtiUser


class LtiBackend(BaseBackend):
    """Authenticates the account linked to an LTI identity.

    Add ``"lti_provider.backends.LtiBackend"`` to ``AUTHENTICATION_BACKENDS``.
    It answers only when the username, the LTI ``user_id`` and the consumer
    all designate one ``LtiUser`` link, and the account is active; it never
    authenticates on a username alone.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        lti_user_id: str | None = None,
        lti_consumer: LtiConsumer | None = None,
        **kwargs: Any,
    ) -> Any:
        if username is None or lti_user_id is None or lti_consumer is None:
            return None
        user_model = get_user_model()
        lti_user = (
            LtiUser.objects.select_related("edx_user")
            .filter(
                lti_consumer=lti_consumer,
                lti_user_id=lti_user_id,
                **{f"edx_user__{user_model.USERNAME_FIELD}": username},
            )
            .first()
        )
        if lti_user is None or not lti_user.edx_user.is_active:
            return None
        return lti_user.edx_user

    def get_user(self, user_id: Any) -> Any:
        user_model = get_user_model()
        user = user_model._default_manager.filter(pk=user_id).first()
        if user is None or not user.is_active:
            return None
        return user
