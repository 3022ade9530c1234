"""What Canvas, Moodle, Blackboard Learn and Open edX send in an LTI 1.1 launch, signed by
libraries that are not ours.

Each ``Lms`` builds the parameters its LMS sends (the shapes of its instance
guid, user ids, result sourcedids, outcome service URLs, roles and custom
parameters) and signs them with an independent consumer library:

* Canvas and Blackboard: the ``lti`` package's ``ToolConsumer`` (which signs
  with requests-oauthlib);
* Moodle: oauthlib's ``Client``, signing the body;
* Open edX: ``LtiConsumer1p1`` of ``lti-consumer-xblock``, Open edX's own LTI
  1.1 consumer, with the values its XBlock computes.

``launch(url, key, secret, ...)`` returns the urlencoded body to POST.
Grades go back to ``outcome_url(server)``, the service URL shape of the LMS
on the test's outcome server (127.0.0.1).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from urllib.parse import quote, urlencode

from lti import ToolConsumer
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY, Client

FORM = "application/x-www-form-urlencoded"

#: An Open edX course and LTI block of an ordinary university course run.
OPENEDX_COURSE = "course-v1:UniversityX+CS101x_Introduction_to_Computer_Science+2026_T1"
OPENEDX_BLOCK = (
    "block-v1:UniversityX+CS101x_Introduction_to_Computer_Science+2026_T1"
    "+type@lti_consumer+block@0a1b2c3d4e5f60718293a4b5c6d7e8f9"
)


@dataclasses.dataclass(frozen=True)
class Learner:
    """Who launches, as the LMS knows them."""

    user_id: str
    email: str = ""
    name: str = "Ada Lovelace"


@dataclasses.dataclass(frozen=True)
class Lms:
    name: str
    #: The LMS installation's tool_consumer_instance_guid ("" when it sends none).
    instance_guid: str
    #: (learner, resource_link_id, outcome URL) -> the LMS's launch parameters.
    parameters: Callable[[Learner, str, str], dict[str, str]]
    #: (launch URL, key, secret, parameters) -> the signed urlencoded body.
    sign: Callable[[str, str, str, dict[str, str]], str]
    #: The path of the LMS's outcome service (on the test server).
    outcome_path: str
    #: A learner as this LMS identifies them.
    learner: Learner
    #: The resource link (placement) launched.
    resource_link_id: str

    def outcome_url(self, server_port: int) -> str:
        return f"http://127.0.0.1:{server_port}{self.outcome_path}"

    def launch(
        self,
        url: str,
        key: str,
        secret: str,
        outcome_url: str = "",
        learner: Learner | None = None,
        resource_link_id: str | None = None,
        **overrides: str,
    ) -> str:
        params = self.parameters(
            learner or self.learner, resource_link_id or self.resource_link_id, outcome_url
        )
        if not outcome_url:
            params.pop("lis_outcome_service_url", None)
            params.pop("lis_result_sourcedid", None)
        params.update(overrides)
        return self.sign(url, key, secret, params)


# --- signers ------------------------------------------------------------------------


def sign_with_lti_package(url: str, key: str, secret: str, params: dict[str, str]) -> str:
    consumer = ToolConsumer(consumer_key=key, consumer_secret=secret, launch_url=url, params=params)
    # requests-oauthlib logs the signed body at DEBUG: the consumer's log, not ours.
    signer_log = logging.getLogger("requests_oauthlib.oauth1_auth")
    signer_log.disabled = True
    try:
        body = consumer.generate_launch_request().body
    finally:
        signer_log.disabled = False
    return body.decode() if isinstance(body, bytes) else body


def sign_with_oauthlib(url: str, key: str, secret: str, params: dict[str, str]) -> str:
    client = Client(
        key,
        client_secret=secret,
        signature_type=SIGNATURE_TYPE_BODY,
        signature_method=SIGNATURE_HMAC_SHA1,
    )
    _uri, _headers, body = client.sign(
        url, http_method="POST", body=urlencode(params), headers={"Content-Type": FORM}
    )
    return body


def sign_with_openedx(url: str, key: str, secret: str, params: dict[str, str]) -> str:
    """Open edX's LtiConsumer1p1, fed what its XBlock computes (``params``)."""
    from lti_consumer.lti_1p1.consumer import LtiConsumer1p1

    params = dict(params)
    consumer = LtiConsumer1p1(url, key, secret)
    consumer.set_user_data(
        params.pop("user_id"),
        params.pop("roles"),
        result_sourcedid=params.pop("lis_result_sourcedid", None),
        person_contact_email_primary=params.pop("lis_person_contact_email_primary", None),
        person_name_full=params.pop("lis_person_name_full", None),
    )
    consumer.set_context_data(
        params.pop("context_id"), params.pop("context_title"), params.pop("context_label")
    )
    if "lis_outcome_service_url" in params:
        consumer.set_outcome_service_url(params.pop("lis_outcome_service_url"))
    consumer.set_launch_presentation_locale(params.pop("launch_presentation_locale"))
    resource_link_id = params.pop("resource_link_id")
    consumer.set_custom_parameters(params)  # what is left: custom_* parameters
    return urlencode(consumer.generate_launch_request(resource_link_id))


# --- the four LMSs --------------------------------------------------------------------


def canvas_parameters(learner: Learner, resource_link_id: str, outcome_url: str) -> dict[str, str]:
    return {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "oauth_callback": "about:blank",
        "tool_consumer_instance_guid": CANVAS.instance_guid,
        "tool_consumer_instance_name": "State University",
        "tool_consumer_instance_contact_email": "notifications@instructure.com",
        "tool_consumer_info_product_family_code": "canvas",
        "tool_consumer_info_version": "cloud",
        "context_id": "4dde05e8ca1973bcca9bffc13e1548820eee93a3",
        "context_label": "CS101",
        "context_title": "Introduction to Computer Science",
        "resource_link_id": resource_link_id,
        "resource_link_title": "Week 1 problem set",
        "user_id": learner.user_id,
        "lis_person_contact_email_primary": learner.email,
        "lis_person_name_full": learner.name,
        "lis_person_name_given": learner.name.split()[0],
        "lis_person_name_family": learner.name.split()[-1],
        "lis_person_sourcedid": "sis-4242",
        "user_image": "https://canvas.example.edu/images/messages/avatar-50.png",
        "roles": "Learner",
        "ext_roles": "urn:lti:instrole:ims/lis/Student,urn:lti:role:ims/lis/Learner,"
        "urn:lti:sysrole:ims/lis/User",
        "launch_presentation_document_target": "iframe",
        "launch_presentation_locale": "en",
        "launch_presentation_return_url": "https://canvas.example.edu/courses/412/external_content/success/external_tool_redirect",
        # Canvas's sourcedid: course, tool, assignment, user and a signature; stable per link.
        "lis_result_sourcedid": f"412-97-1034-{learner.user_id[:6]}-"
        + hashlib.sha1(f"412-97-1034-{learner.user_id}".encode()).hexdigest(),  # noqa: S324
        "lis_outcome_service_url": outcome_url,
        "ext_ims_lis_basic_outcome_url": outcome_url,
        "ext_outcome_data_values_accepted": "url,text",
        "ext_outcome_result_total_score_accepted": "true",
        "custom_canvas_api_domain": "canvas.example.edu",
        "custom_canvas_course_id": "412",
        "custom_canvas_enrollment_state": "active",
        "custom_canvas_user_id": "4242",
        "custom_canvas_assignment_points_possible": "10",
    }


def moodle_parameters(learner: Learner, resource_link_id: str, outcome_url: str) -> dict[str, str]:
    # Moodle's sourcedid: JSON with a fresh launch id at every launch, and its hash.
    data = {
        "instanceid": resource_link_id,
        "userid": learner.user_id,
        "typeid": "2",
        "launchid": secrets.randbelow(2**31),
    }
    digest = hashlib.sha256(json.dumps(data).encode() + b"tool-secret").hexdigest()
    sourcedid = json.dumps({"data": data, "hash": digest}, separators=(",", ":"))
    return {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "oauth_callback": "about:blank",
        "tool_consumer_instance_guid": MOODLE.instance_guid,  # the site's host, for every tool
        "tool_consumer_instance_name": "State University Moodle",
        "tool_consumer_instance_description": "State University Moodle",
        "tool_consumer_info_product_family_code": "moodle",
        "tool_consumer_info_version": "2024100700",
        "context_id": "17",
        "context_label": "CS101",
        "context_title": "Introduction to Computer Science",
        "context_type": "CourseSection",
        "lis_course_section_sourcedid": "CS101-2026",
        "resource_link_id": resource_link_id,
        "resource_link_title": "Problem set 1",
        "resource_link_description": "",
        "user_id": learner.user_id,
        "lis_person_sourcedid": "",
        "lis_person_name_given": learner.name.split()[0],
        "lis_person_name_family": learner.name.split()[-1],
        "lis_person_name_full": learner.name,
        "lis_person_contact_email_primary": learner.email,
        "ext_user_username": "ada",
        "roles": "Learner",
        "ext_lms": "moodle-2",
        "launch_presentation_locale": "en",
        "launch_presentation_document_target": "iframe",
        "launch_presentation_return_url": "https://moodle.example.edu/mod/lti/return.php"
        f"?course=17&launch_container=3&instanceid={resource_link_id}&sesskey=3nLdY2uTQf",
        "lis_result_sourcedid": sourcedid,
        "lis_outcome_service_url": outcome_url,
        "custom_course_tag": "cs101",
    }


def blackboard_parameters(
    learner: Learner, resource_link_id: str, outcome_url: str
) -> dict[str, str]:
    return {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "tool_consumer_instance_guid": BLACKBOARD.instance_guid,
        "tool_consumer_instance_name": "State University Blackboard",
        "tool_consumer_info_product_family_code": "learn",
        "tool_consumer_info_version": "3900.82.0",
        "context_id": "f1a3c0d8e5b34c0b9f6a2d7e8c4b1a09",
        "context_label": "CS101-2026",
        "context_title": "Introduction to Computer Science",
        "resource_link_id": resource_link_id,
        "resource_link_title": "Problem set 1",
        "user_id": learner.user_id,
        "lis_person_name_full": learner.name,
        "lis_person_contact_email_primary": learner.email,
        "lis_person_sourcedid": "ada.lovelace",
        "roles": "urn:lti:role:ims/lis/Learner",
        "ext_launch_presentation_css_url": "https://blackboard.example.edu/common/shared.css",
        "launch_presentation_locale": "en-US",
        "launch_presentation_return_url": "https://blackboard.example.edu/webapps/blackboard/execute/blti/launchReturn",
        # Blackboard's sourcedid names the grade column, item and user.
        "lis_result_sourcedid": f"bbgc7789gi_4412_1ui{learner.user_id}",
        "lis_outcome_service_url": outcome_url,
        "custom_tc_profile_url": "",
        "custom_section": "001",
    }


def openedx_parameters(learner: Learner, resource_link_id: str, outcome_url: str) -> dict[str, str]:
    """What Open edX's LTI consumer XBlock computes for a graded block (see its
    ``resource_link_id``, ``lis_result_sourcedid`` and ``outcome_service_url``)."""
    return {
        "user_id": learner.user_id,  # the learner's anonymous id
        "roles": "Student,Learner",
        "lis_result_sourcedid": f"{quote(OPENEDX_COURSE)}:{resource_link_id}:{learner.user_id}",
        "lis_person_contact_email_primary": learner.email,
        "lis_person_name_full": learner.name,
        "context_id": OPENEDX_COURSE,
        "context_title": "Introduction to Computer Science",
        "context_label": "UniversityX",
        "lis_outcome_service_url": outcome_url,
        "launch_presentation_locale": "en",
        "resource_link_id": resource_link_id,
        "custom_component_display_name": "Problem set 1",
        "custom_component_due_date": "2026-12-01 23:59:00",
    }


CANVAS = Lms(
    name="Canvas",
    instance_guid="794d72b707af6ea82cfe3d5d473f16888a8366c7.canvas.example.edu",
    parameters=canvas_parameters,
    sign=sign_with_lti_package,
    outcome_path="/api/lti/v1/tools/97/grade_passback",
    learner=Learner("535fa085f22b4655f48cd5a36a9215f64c062838", "ada@example.edu"),
    resource_link_id="3f9a60c6c5c3a2cbd0a1c1e0f4c8bb8e2c6a8b12",
)
MOODLE = Lms(
    name="Moodle",
    instance_guid="moodle.example.edu",
    parameters=moodle_parameters,
    sign=sign_with_oauthlib,
    outcome_path="/mod/lti/service.php",
    learner=Learner("3", "ada@example.edu"),
    resource_link_id="7",
)
BLACKBOARD = Lms(
    name="Blackboard",
    instance_guid="6c2e8d4a1b9f4e37a5d0c8b7e6f5a4d3",
    parameters=blackboard_parameters,
    sign=sign_with_lti_package,
    outcome_path="/webapps/blackboard/controller/lti/v1/outcomes",
    learner=Learner("c9e4b7a15d3f4e8a9b2c6d1e0f7a8b9c", "ada@example.edu"),
    resource_link_id="_5521_1",
)
OPENEDX = Lms(
    name="Open edX",
    instance_guid="",  # its LTI consumer sends no tool_consumer_instance_guid
    parameters=openedx_parameters,
    sign=sign_with_openedx,
    outcome_path=f"/courses/{OPENEDX_COURSE}/xblock/{OPENEDX_BLOCK}"
    "/handler_noauth/outcome_service_handler",
    learner=Learner("5f4dcc3b5aa765d61d8327deb882cf99", "ada@example.edu"),
    resource_link_id=OPENEDX_BLOCK,
)
ALL = (CANVAS, MOODLE, BLACKBOARD, OPENEDX)
