"""lti_provider.outcomes: URL checks, XML, signed sending to a real server, helpers."""

import logging
import socket

import pytest
from django.core.exceptions import ImproperlyConfigured
from lxml import etree
from opaque_keys.edx.keys import CourseKey, UsageKey

from lti_provider import outcomes
from lti_provider.exceptions import InvalidOutcomeURL, OutcomeError, OutcomeServiceUnavailable
from lti_provider.models import GradedAssignment
from tests.factories import GradedAssignmentFactory, UserFactory
from tests.lti_provider.outcome_server import (  # noqa: F401  (fixtures)
    NS,
    REPLY,
    assignment_fixture,
    closed_port_url_fixture,
    outcome_server_fixture,
    outcome_service_fixture,
)
from tests.lti_provider.score_reader import score_reader_fixture  # noqa: F401

COURSE = "course-v1:Org+Course+Run"
PROBLEM = "block-v1:Org+Course+Run+type@problem+block@p1"


@pytest.fixture
def strict(settings):
    """Production defaults: https only, public hosts only."""
    settings.LTI_PROVIDER = {
        **settings.LTI_PROVIDER,
        "ALLOW_INSECURE_OUTCOME_URLS": False,
        "ALLOW_PRIVATE_OUTCOME_HOSTS": False,
    }


# --- validate_outcome_url -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/outcomes",
        "https://10.0.0.1/outcomes",
        "https://192.168.1.20/outcomes",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/outcomes",
        "https://[::ffff:127.0.0.1]/outcomes",
        "https://[fe80::1]/outcomes",
        "https://224.0.0.1/outcomes",
        "https://0.0.0.0/outcomes",
        "https://240.0.0.1/outcomes",
        "https://localhost/outcomes",
    ],
)
def test_validate_outcome_url_refuses_non_public_hosts(strict, url):
    with pytest.raises(InvalidOutcomeURL, match="non-public address"):
        outcomes.validate_outcome_url(url)


def test_validate_outcome_url_refuses_http(strict):
    with pytest.raises(InvalidOutcomeURL, match="must use https, not http"):
        outcomes.validate_outcome_url("http://93.184.216.34/outcomes")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.216.34/outcomes", "must use https"),
        ("javascript:alert(1)", "must use https"),
        ("https:///outcomes", "has no host"),
        ("https://93.184.216.34:99999/outcomes", "malformed"),
    ],
)
def test_validate_outcome_url_refuses_malformed_urls(strict, url, message):
    with pytest.raises(InvalidOutcomeURL, match=message):
        outcomes.validate_outcome_url(url)


def test_validate_outcome_url_accepts_a_public_address(strict):
    outcomes.validate_outcome_url("https://93.184.216.34/outcomes")
    outcomes.validate_outcome_url("https://[2606:2800:220:1:248:1893:25c8:1946]:8443/x?y=1")


def test_validate_outcome_url_refuses_when_any_resolved_address_is_private(strict, monkeypatch):
    def resolve(host, port, *args, **kwargs):
        assert host == "lms.example.com"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(InvalidOutcomeURL, match=r"10\.1\.2\.3"):
        outcomes.validate_outcome_url("https://lms.example.com/outcomes")


def test_validate_outcome_url_refuses_an_unresolvable_host(strict, monkeypatch):
    def resolve(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(InvalidOutcomeURL, match="cannot be resolved"):
        outcomes.validate_outcome_url("https://lms.example.com/outcomes")


def test_validate_outcome_url_follows_the_test_settings():
    # tests/settings.py allows http and private hosts so the local server can be used.
    outcomes.validate_outcome_url("http://127.0.0.1:8000/outcomes")


# --- replace_result_xml ---------------------------------------------------------------


def test_replace_result_xml_is_a_replace_result_request():
    xml = outcomes.replace_result_xml("sourced-1", 0.75, "msg-1")
    root = etree.fromstring(xml)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert root.tag == f"{{{NS['ns']}}}imsx_POXEnvelopeRequest"
    assert root.findtext(".//ns:imsx_version", namespaces=NS) == "V1.0"
    assert root.findtext(".//ns:imsx_messageIdentifier", namespaces=NS) == "msg-1"
    record = root.find(".//ns:replaceResultRequest/ns:resultRecord", namespaces=NS)
    assert record.findtext("ns:sourcedGUID/ns:sourcedId", namespaces=NS) == "sourced-1"
    assert record.findtext("ns:result/ns:resultScore/ns:language", namespaces=NS) == "en"
    assert record.findtext("ns:result/ns:resultScore/ns:textString", namespaces=NS) == "0.75"


def test_replace_result_xml_escapes_the_sourcedid():
    xml = outcomes.replace_result_xml("<a&b>é", 1, "m")
    assert etree.fromstring(xml).findtext(".//ns:sourcedId", namespaces=NS) == "<a&b>é"


@pytest.mark.parametrize("score", [0, 0.0, 1, 1.0])
def test_replace_result_xml_accepts_the_bounds(score):
    xml = outcomes.replace_result_xml("s", score, "m")
    assert float(etree.fromstring(xml).findtext(".//ns:textString", namespaces=NS)) == score


@pytest.mark.parametrize("score", [-0.01, 1.01, float("nan"), float("inf")])
def test_replace_result_xml_refuses_scores_outside_0_1(score):
    with pytest.raises(ValueError, match="between 0 and 1"):
        outcomes.replace_result_xml("s", score, "m")


# --- raise_for_replace_result ---------------------------------------------------------


def test_check_response_accepts_success():
    outcomes.raise_for_replace_result(
        REPLY.format(code="success", description="ok", ref="m").encode()
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not xml", "not XML"),
        (b"<a xmlns='x'/>", "0 imsx_codeMajor"),
        (
            f"<r xmlns='{NS['ns']}'><imsx_codeMajor>success</imsx_codeMajor>"
            "<imsx_codeMajor>success</imsx_codeMajor></r>".encode(),
            "2 imsx_codeMajor",
        ),
        (
            REPLY.format(code="unsupported", description="No such op", ref="m").encode(),
            "'unsupported': 'No such op'",
        ),
    ],
)
def test_check_response_refuses(content, message):
    with pytest.raises(OutcomeError, match=message):
        outcomes.raise_for_replace_result(content)


def test_check_response_does_not_expand_entities():
    content = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<r xmlns='" + NS["ns"].encode() + b"'><imsx_codeMajor>&x;</imsx_codeMajor></r>"
    )
    with pytest.raises(OutcomeError) as info:
        outcomes.raise_for_replace_result(content)
    assert "root:" not in str(info.value)


# --- send_replace_result (real server on 127.0.0.1) -----------------------------------


def test_score_reaches_the_server_signed_with_a_body_hash(assignment, outcome_server):
    assert outcomes.send_replace_result(assignment, 0.5) is True

    [received] = outcome_server.received
    assert received.sourcedid == assignment.lis_result_sourcedid
    assert received.score == "0.5"
    assert received.content_type == "application/xml"
    assert received.path == "/outcomes/"
    assert (
        received.oauth["oauth_consumer_key"] == assignment.outcome_service.lti_consumer.consumer_key
    )
    assert received.oauth["oauth_signature_method"] == "HMAC-SHA1"
    assert received.body_hash_ok
    assert received.signature_ok


def test_each_message_has_its_own_identifier(assignment, outcome_server):
    outcomes.send_replace_result(assignment, 0.1)
    outcomes.send_replace_result(assignment, 0.2)
    first, second = outcome_server.received
    assert first.message_identifier != second.message_identifier
    assert first.oauth["oauth_nonce"] != second.oauth["oauth_nonce"]


def test_the_server_check_detects_a_wrong_secret(assignment, outcome_server):
    """The server's verification is real: with another secret the signature fails."""
    consumer = assignment.outcome_service.lti_consumer
    outcome_server.secrets[consumer.consumer_key] = "not-the-secret"
    outcomes.send_replace_result(assignment, 0.5)
    [received] = outcome_server.received
    assert received.body_hash_ok
    assert not received.signature_ok


def test_outcome_url_with_a_query_is_signed_with_it(outcome_service, outcome_server):
    outcome_service.lis_outcome_service_url = outcome_server.url + "?course=1&x=a%20b"
    outcome_service.save()
    assignment = GradedAssignmentFactory(outcome_service=outcome_service)
    outcomes.send_replace_result(assignment, 1.0)
    [received] = outcome_server.received
    assert received.path == "/outcomes/?course=1&x=a%20b"
    assert received.signature_ok and received.body_hash_ok


@pytest.mark.parametrize("code", ["failure", "unsupported", "processing"])
def test_a_code_major_other_than_success_is_an_outcome_error(assignment, outcome_server, code):
    outcome_server.answer(code)
    with pytest.raises(OutcomeError, match=f"'{code}': 'Refused by test'") as info:
        outcomes.send_replace_result(assignment, 0.5)
    assert not isinstance(info.value, OutcomeServiceUnavailable)


@pytest.mark.parametrize("status", ["500", "502", "503", "429"])
def test_5xx_and_429_are_retryable(assignment, outcome_server, status):
    outcome_server.answer(status)
    with pytest.raises(OutcomeServiceUnavailable, match=f"HTTP {status}"):
        outcomes.send_replace_result(assignment, 0.5)


@pytest.mark.parametrize("status", ["400", "401", "404"])
def test_4xx_is_a_permanent_error(assignment, outcome_server, status):
    outcome_server.answer(status)
    with pytest.raises(OutcomeError, match=f"HTTP {status}") as info:
        outcomes.send_replace_result(assignment, 0.5)
    assert not isinstance(info.value, OutcomeServiceUnavailable)


def test_redirects_are_not_followed(assignment, outcome_server):
    outcome_server.answer("302")
    with pytest.raises(OutcomeError, match="HTTP 302 \\(not followed\\)"):
        outcomes.send_replace_result(assignment, 0.5)
    assert len(outcome_server.received) == 1


def test_a_dropped_connection_is_retryable(assignment, outcome_server):
    outcome_server.answer("close")
    with pytest.raises(OutcomeServiceUnavailable, match="could not be reached"):
        outcomes.send_replace_result(assignment, 0.5)


def test_a_refused_connection_is_retryable(assignment, closed_port_url):
    service = assignment.outcome_service
    service.lis_outcome_service_url = closed_port_url
    service.save()
    with pytest.raises(OutcomeServiceUnavailable, match="ConnectionError"):
        outcomes.send_replace_result(assignment, 0.5)


def test_an_invalid_url_is_refused_before_any_request(assignment, outcome_server, strict):
    with pytest.raises(InvalidOutcomeURL):
        outcomes.send_replace_result(assignment, 0.5)
    assert outcome_server.received == []


def test_a_score_outside_0_1_is_refused_before_any_request(assignment, outcome_server):
    with pytest.raises(ValueError, match="between 0 and 1"):
        outcomes.send_replace_result(assignment, 1.5)
    assert outcome_server.received == []


def test_an_oversized_reply_is_refused(assignment, outcome_server, monkeypatch):
    monkeypatch.setattr(outcomes, "MAX_RESPONSE_BYTES", 100)
    with pytest.raises(OutcomeError, match="larger than 100 bytes"):
        outcomes.send_replace_result(assignment, 0.5)


# --- send_score_update: logging -------------------------------------------------------


def _log_text(caplog):
    # oauthlib itself logs the base string and signature at DEBUG (its own
    # logger, off in production); what we and requests/urllib3 log is checked.
    return "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}"
        for r in caplog.records
        if not r.name.startswith("oauthlib")
    )


def test_send_score_update_logs_no_secret_nor_signature(assignment, outcome_server, caplog):
    caplog.set_level(logging.DEBUG)
    outcome_server.answer("failure")
    with pytest.raises(OutcomeError):
        outcomes.send_score_update(assignment, 0.5)
    assert outcomes.send_score_update(assignment, 0.25) is True

    text = _log_text(caplog)
    assert "failed to update the score" in text
    assert f"Assignment: {assignment.pk}" in text
    assert "score 0.25 sent" in text
    secret = assignment.outcome_service.lti_consumer.consumer_secret
    for received in outcome_server.received:
        assert received.oauth["oauth_signature"] not in text
    assert secret not in text
    assert "Authorization" not in text
    assert "OAuth " not in text


def test_send_score_update_logs_and_reraises_a_bad_score(assignment, outcome_server, caplog):
    with pytest.raises(ValueError, match="between 0 and 1"):
        outcomes.send_score_update(assignment, 2)
    assert "failed to update the score" in caplog.text
    assert outcome_server.received == []


# --- scores ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earned", "possible", "score"), [(3, 4, 0.75), (0, 0, 0.0), (2, 2, 1.0), (0, 5, 0.0)]
)
def test_weighted_score(earned, possible, score):
    assert outcomes.weighted_score(earned, possible) == score


def test_read_weighted_score_needs_the_hook(db):
    with pytest.raises(ImproperlyConfigured, match="SCORE_READER"):
        outcomes.read_weighted_score(
            1, CourseKey.from_string(COURSE), UsageKey.from_string(PROBLEM)
        )


def test_read_weighted_score_uses_the_hook(db, score_reader):
    score_reader[(7, PROBLEM)] = (1, 4)
    course, usage = CourseKey.from_string(COURSE), UsageKey.from_string(PROBLEM)
    assert outcomes.read_weighted_score(7, course, usage) == 0.25
    assert outcomes.read_weighted_score(8, course, usage) is None


def test_read_weighted_score_refuses_a_nan(db, score_reader):
    score_reader[(7, PROBLEM)] = (float("nan"), 1)
    with pytest.raises(ValueError, match="non-numeric"):
        outcomes.read_weighted_score(
            7, CourseKey.from_string(COURSE), UsageKey.from_string(PROBLEM)
        )


def test_send_composite_outcome_sends_the_hook_score(assignment, outcome_server, score_reader):
    score_reader[(assignment.user_id, str(assignment.usage_key))] = (1, 2)
    assert outcomes.send_composite_outcome(assignment) is True
    assert [r.score for r in outcome_server.received] == ["0.5"]


def test_send_composite_outcome_sends_nothing_without_a_score(
    assignment, outcome_server, score_reader
):
    assert outcomes.send_composite_outcome(assignment) is False
    assert outcome_server.received == []


# --- assignments and versions ---------------------------------------------------------


def test_assignments_for_score_change(db, outcome_service):
    user = UserFactory()
    own = GradedAssignmentFactory(user=user, outcome_service=outcome_service)
    vertical = GradedAssignmentFactory(
        user=user,
        outcome_service=outcome_service,
        usage_key="block-v1:Org+Course+Run+type@vertical+block@v1",
    )
    course = GradedAssignmentFactory(
        user=user,
        outcome_service=outcome_service,
        usage_key="block-v1:Org+Course+Run+type@course+block@course",
    )
    GradedAssignmentFactory(  # another problem: unaffected
        user=user,
        outcome_service=outcome_service,
        usage_key="block-v1:Org+Course+Run+type@problem+block@p2",
    )
    GradedAssignmentFactory(outcome_service=outcome_service)  # another learner
    GradedAssignmentFactory(  # another course
        user=user,
        outcome_service=outcome_service,
        course_key="course-v1:Org+Other+Run",
        usage_key="block-v1:Org+Other+Run+type@problem+block@p1",
    )
    found = outcomes.assignments_for_score_change(
        user.pk, CourseKey.from_string(COURSE), UsageKey.from_string(PROBLEM)
    )
    assert sorted(a.pk for a in found) == sorted([own.pk, vertical.pk, course.pk])


def test_assignments_for_score_change_serves_lti13_assignments_too(db, outcome_service):
    from lti_provider.models import Lti13GradedAssignment
    from tests.lti_provider.test_retirement import lti13_assignment

    user = UserFactory()
    own = lti13_assignment(user)  # on PROBLEM in COURSE
    GradedAssignmentFactory(user=user, outcome_service=outcome_service)  # 1.1, same block
    found = outcomes.assignments_for_score_change(
        user.pk,
        CourseKey.from_string(COURSE),
        UsageKey.from_string(PROBLEM),
        Lti13GradedAssignment,
    )
    assert [a.pk for a in found] == [own.pk]
    assert found.model is Lti13GradedAssignment


def test_increment_assignment_versions(db, outcome_service):
    first, second, other = GradedAssignmentFactory.create_batch(3, outcome_service=outcome_service)
    rows = outcomes.increment_assignment_versions([first.pk, second.pk])
    assert [(r.pk, r.version_number) for r in rows] == [(first.pk, 1), (second.pk, 1)]
    rows = outcomes.increment_assignment_versions([second.pk])
    assert [(r.pk, r.version_number) for r in rows] == [(second.pk, 2)]
    other.refresh_from_db()
    assert other.version_number == 0
    assert outcomes.increment_assignment_versions([]) == []


def test_current_assignment(assignment):
    assert outcomes.current_assignment(assignment.pk, 0) == assignment
    assert outcomes.current_assignment(assignment.pk, None) == assignment
    GradedAssignment.objects.filter(pk=assignment.pk).update(version_number=3)
    assert outcomes.current_assignment(assignment.pk, 2) is None
    assert outcomes.current_assignment(assignment.pk + 1000, None) is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_increments_get_distinct_versions():
    """Each concurrent score change gets its own version: none is lost or shared."""
    import threading

    from django.db import connection

    assignment = GradedAssignmentFactory()
    barrier = threading.Barrier(6)
    versions, errors = [], []

    def change():
        try:
            barrier.wait()
            [row] = outcomes.increment_assignment_versions([assignment.pk])
            versions.append(row.version_number)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=change) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(versions) == [1, 2, 3, 4, 5, 6]
    assignment.refresh_from_db()
    assert assignment.version_number == 6


# --- text from the outcome service, in the logs ------------------------------------------------


@pytest.mark.parametrize(
    "description",
    [
        "refused\nERROR lti_provider.tasks: forged: score of assignment 1 sent",
        "refused\r\nINFO forged",
        "refused\u2028INFO forged",
        "refused\x85INFO forged",
        "x" * 5000,
    ],
)
def test_the_services_description_is_logged_escaped_on_one_line(
    assignment, outcome_server, caplog, description
):
    caplog.set_level("INFO")
    outcome_server.default = "failure"
    outcome_server.refusal_description = description
    with pytest.raises(OutcomeError):
        outcomes.send_score_update(assignment, 0.5)
    [record] = [r for r in caplog.records if "failed to update the score" in r.getMessage()]
    message = record.getMessage()
    assert not any(c in message for c in "\n\r\x85\u2028")
    assert ("forged" if "forged" in description else "x" * 50) in message  # there, escaped
    assert len(message) < 1000
