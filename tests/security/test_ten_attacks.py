"""The ten attacks a popular peer LTI provider lets through, each refused here (issue 8).

One named test per attack, thin on purpose, so the list is visible; deeper
variants live where noted.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from oauthlib.oauth1 import SIGNATURE_PLAINTEXT

from lti_provider import outcomes
from lti_provider.exceptions import InvalidOutcomeURL
from lti_provider.models import GradedAssignment, LtiUser, OutcomeService, SpentNonce
from lti_provider.signals import score_changed
from tests.factories import GradedAssignmentFactory, LtiUserFactory, UserFactory
from tests.lti_provider.test_signature_validator import rsa_sha1_signed
from tests.security.helpers import (
    COURSE_ID,
    USAGE_ID,
    launch_params,
    launch_path,
    now,
    post_launch,
    sign_launch,
    snapshot,
)

pytestmark = pytest.mark.django_db


def session_user_id(client: Client) -> str | None:
    return client.session.get(SESSION_KEY)


# 1 ----------------------------------------------------------------------------------------
def test_attack_01_the_same_signed_launch_replayed(consumer):
    """Over many launches: test_replay_forgery.test_every_valid_launch_replayed_is_refused."""
    body = sign_launch(consumer)
    assert post_launch(body).status_code == 200
    before = snapshot()
    assert post_launch(body).status_code == 403
    assert snapshot() == before


# 2 ----------------------------------------------------------------------------------------
def test_attack_02_a_timestamp_ten_years_ahead(consumer):
    before = snapshot()
    body = sign_launch(consumer, timestamp=str(now() + 10 * 365 * 24 * 3600))
    assert post_launch(body).status_code == 403
    assert snapshot() == before


# 3 ----------------------------------------------------------------------------------------
def test_attack_03_a_timestamp_ten_minutes_old(consumer):
    before = snapshot()
    assert post_launch(sign_launch(consumer, timestamp=str(now() - 600))).status_code == 403
    assert snapshot() == before


# 4 ----------------------------------------------------------------------------------------
def test_attack_04_a_launch_asserting_a_superusers_email(consumer):
    assert not consumer.require_user_account
    root = UserFactory(username="root", email="root@example.com", is_superuser=True, is_staff=True)
    client = Client()
    params = launch_params(lis_person_contact_email_primary="ROOT@example.com ")
    response = post_launch(sign_launch(consumer, params), client=client)
    assert response.status_code == 200
    assert session_user_id(client) != str(root.pk)
    assert not LtiUser.objects.filter(edx_user=root).exists()
    assert LtiUser.objects.get().edx_user.email.endswith("@lti.example.com")


# 5 ----------------------------------------------------------------------------------------
LOGIN_ID_PARAMETERS = [
    "custom_username",
    "custom_user_login_id",
    "lis_person_sourcedid",
    "ext_user_username",
    "lis_person_name_full",
    "custom_canvas_user_login_id",
]


@pytest.mark.parametrize("require_user_account", [False, True])
def test_attack_05_a_custom_login_id_naming_an_existing_username(consumer, require_user_account):
    consumer.require_user_account = require_user_account
    consumer.save()
    root = UserFactory(username="root", email="root@example.com", is_superuser=True)
    client = Client()
    params = launch_params(
        user_id="root",
        **dict.fromkeys(LOGIN_ID_PARAMETERS, "root"),
        lis_person_contact_email_primary="root@example.com",
    )
    response = post_launch(sign_launch(consumer, params), client=client)
    assert session_user_id(client) != str(root.pk)
    assert not LtiUser.objects.filter(edx_user=root).exists()
    if require_user_account:
        assert response.status_code == 302  # prove it by logging in first
        assert urlsplit(response["Location"]).path == "/accounts/login/"
    else:
        assert response.status_code == 200
        assert LtiUser.objects.get().edx_user.username != "root"


# 6 ----------------------------------------------------------------------------------------
def test_attack_06_a_launch_for_a_linked_but_deactivated_user(consumer):
    linked = LtiUserFactory(
        lti_consumer=consumer, lti_user_id="lti-learner-1", edx_user__is_active=False
    )
    client = Client()
    before = snapshot()
    response = post_launch(sign_launch(consumer), client=client)
    assert response.status_code == 403
    assert snapshot() == before  # no session row either
    # The signed launch's nonce is spent all the same: it is not replayable.
    assert SpentNonce.objects.count() == 1
    assert session_user_id(client) is None
    assert not type(linked.edx_user).objects.get(pk=linked.edx_user.pk).is_active


# 7 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["PLAINTEXT", "RSA-SHA1"])
def test_attack_07_a_plaintext_or_rsa_signature(consumer, method):
    from urllib.parse import urlencode

    if method == "PLAINTEXT":
        body = sign_launch(consumer, signature_method=SIGNATURE_PLAINTEXT)
    else:
        body = urlencode(rsa_sha1_signed(consumer))
    before = snapshot()
    response = post_launch(body)
    assert response.status_code == 403
    assert snapshot() == before


# 8 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["lti_message_type", "lti_version", "resource_link_id"])
def test_attack_08_a_launch_without_message_type_version_or_resource_link(consumer, missing):
    before = snapshot()
    response = post_launch(sign_launch(consumer, launch_params(**{missing: None})))
    assert response.status_code == 400
    assert missing in response.content.decode()
    assert snapshot() == before


# 9 ----------------------------------------------------------------------------------------
class Listener:
    """A TCP port on 127.0.0.1 that counts every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.stop()


@pytest.fixture
def production_outcome_settings(settings):
    settings.LTI_PROVIDER = {
        **settings.LTI_PROVIDER,
        "ALLOW_INSECURE_OUTCOME_URLS": False,
        "ALLOW_PRIVATE_OUTCOME_HOSTS": False,
    }


def forbidden_urls(port: int) -> list[str]:
    return [
        f"https://127.0.0.1:{port}/outcomes",
        f"https://localhost:{port}/outcomes",  # a name resolving to loopback
        f"https://[::1]:{port}/outcomes",
        f"https://127.1:{port}/outcomes",
        f"https://2130706433:{port}/outcomes",  # 127.0.0.1 as one decimal number
        f"https://0x7f000001:{port}/outcomes",
        f"https://0.0.0.0:{port}/outcomes",
        "https://10.0.0.7/outcomes",
        "https://172.16.5.4/outcomes",
        "https://192.168.1.20/outcomes",
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://[fd00::1]/outcomes",
        f"http://127.0.0.1:{port}/outcomes",
    ]


def test_attack_09_an_outcome_url_at_loopback_private_or_resolving_to_one(
    consumer, listener, production_outcome_settings
):
    for index, url in enumerate(forbidden_urls(listener.port)):
        params = launch_params(
            user_id=f"learner-{index}",
            lis_result_sourcedid=f"src-{index}",
            lis_outcome_service_url=url,
        )
        assert post_launch(sign_launch(consumer, params)).status_code == 200, url
    assert not OutcomeService.objects.exists()
    assert not GradedAssignment.objects.exists()
    for lti_user in LtiUser.objects.all():
        score_changed.send(
            sender=None,
            user_id=lti_user.edx_user_id,
            course_id=COURSE_ID,
            usage_id=USAGE_ID,
            weighted_earned=1,
            weighted_possible=1,
        )
    assert listener.connections == 0


def test_attack_09_an_outcome_url_recorded_earlier_is_refused_when_sending(
    listener, production_outcome_settings
):
    """A row recorded under laxer settings (or by hand) is validated again before sending."""
    for url in forbidden_urls(listener.port)[:7]:
        assignment = GradedAssignmentFactory(outcome_service__lis_outcome_service_url=url)
        with pytest.raises(InvalidOutcomeURL):
            outcomes.send_score_update(assignment, 0.5)
    assert listener.connections == 0


# 10 ---------------------------------------------------------------------------------------
EVIL = [
    "https://evil.example.com/",
    "//evil.example.com/",
    "/\\evil.example.com",
    "javascript:alert(1)",
]


def resume_from(response) -> str:
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc, location.path) == ("", "", "/accounts/login/")
    (next_url,) = parse_qs(location.query)["next"]
    return next_url


@pytest.mark.parametrize("evil", EVIL)
def test_attack_10_an_open_redirect_through_next(consumer, evil):
    """The only ``next`` the app writes is its own resume path; any other is ignored."""
    consumer.require_user_account = True
    consumer.save()
    UserFactory(username="ada", email="ada@example.com")
    path = launch_path() + "?" + urlencode_next(evil)
    params = launch_params(
        lis_person_contact_email_primary="ada@example.com",
        next=evil,
        launch_presentation_return_url=evil,
    )
    client = Client()
    response = post_launch(sign_launch(consumer, params, path=path), path, client=client)
    assert response.status_code == 302
    next_url = resume_from(response)
    assert urlsplit(next_url)[:2] == ("", "")
    assert next_url.startswith("/lti_provider/resume/")

    # The resume URL with a `next` of its own: sent to log in with our path only...
    anonymous = client.get(next_url, {"next": evil})
    assert anonymous.status_code == 302
    assert resume_from(anonymous).startswith("/lti_provider/resume/")
    # ...the login page does not follow an off-site next...
    login = client.post(
        "/accounts/login/?next=" + urlencode_value(evil),
        {"username": "ada", "password": "password"},
    )
    assert login.status_code == 302
    assert "evil.example.com" not in login["Location"]
    assert not login["Location"].startswith("javascript:")
    # ...and the resume shows the content; it never redirects.
    resumed = client.get(next_url, {"next": evil})
    assert resumed.status_code == 200
    assert "Location" not in resumed.headers


def urlencode_next(value: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": value})


def urlencode_value(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
