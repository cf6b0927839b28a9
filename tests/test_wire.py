"""The sans-I/O wire layer: request builders, error bodies, the error mapping and decoding."""

from __future__ import annotations

import calendar
import json
from typing import Any

import pytest

from batchcreate.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RequestRejectedError,
    ServerError,
    ThrottledError,
    TransportError,
)
from batchcreate.models import Cluster, ClusterList, Job
from batchcreate.wire import (
    Request,
    Response,
    create_cluster_request,
    decode,
    error_from_response,
    list_clusters_request,
    parse_error_body,
    parse_retry_after,
    show_cluster_request,
    show_job_request,
)

ENDPOINT = "https://cce.cn-north-4.myhuaweicloud.com"
JSON = {"Content-Type": "application/json"}

#: The mixed Kubernetes "Status" body quoted on the facts page.
STATUS_BODY: dict[str, Any] = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "code": 400,
    "errorCode": "CCE.01400001",
    "errorMessage": "Invalid request.",
    "error_code": "CCE_CM.0004",
    "error_msg": "Request is invalid",
    "message": "Eni subnetId and subnetCidr not matched",
    "reason": "BadRequest",
}

NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


# ---- request builders --------------------------------------------------------------------


def test_create_request_posts_compact_json_to_the_clusters_collection() -> None:
    """A create is a POST of the compact JSON body to the project's clusters path."""
    request = create_cluster_request(ENDPOINT, "proj123", {"kind": "Cluster"})

    assert request.method == "POST"
    assert request.url == f"{ENDPOINT}/api/v3/projects/proj123/clusters"
    assert dict(request.headers) == JSON
    assert request.body == b'{"kind":"Cluster"}'
    assert request.kind == "create"


def test_create_request_body_round_trips_including_non_ascii_text() -> None:
    """The body bytes are UTF-8 JSON that decode back to exactly the dict that was given."""
    body = {
        "kind": "Cluster",
        "apiVersion": "v3",
        "metadata": {"name": "alpha-one", "labels": {"team": "ops"}},
        "spec": {"description": "集群 für Tests", "billingMode": 0, "extendParam": {"k": None}},
    }

    request = create_cluster_request(ENDPOINT, "proj123", body)

    assert json.loads(request.body) == body
    assert "集群 für Tests".encode() in request.body


def test_show_job_request_builds_the_job_url() -> None:
    """Show job is a bodiless GET of /jobs/{job_id} with the JSON content type."""
    request = show_job_request(ENDPOINT, "proj123", "job-1")

    assert request.method == "GET"
    assert request.url == f"{ENDPOINT}/api/v3/projects/proj123/jobs/job-1"
    assert dict(request.headers) == JSON
    assert request.body == b""
    assert request.kind == "job"


def test_show_cluster_request_builds_the_cluster_url() -> None:
    """Show cluster is a bodiless GET of /clusters/{cluster_id}."""
    request = show_cluster_request(ENDPOINT, "proj123", "c-42")

    assert request.method == "GET"
    assert request.url == f"{ENDPOINT}/api/v3/projects/proj123/clusters/c-42"
    assert dict(request.headers) == JSON
    assert request.body == b""
    assert request.kind == "cluster"


@pytest.mark.parametrize(
    ("project_id", "job_id", "path"),
    [
        ("proj/1 x", "job?#1", "/api/v3/projects/proj%2F1%20x/jobs/job%3F%231"),
        ("pröj", "job%2F", "/api/v3/projects/pr%C3%B6j/jobs/job%252F"),
        ("a~b.c-d_e", "j&k=v", "/api/v3/projects/a~b.c-d_e/jobs/j%26k%3Dv"),
    ],
)
def test_odd_ids_are_percent_encoded_as_single_path_segments(
    project_id: str, job_id: str, path: str
) -> None:
    """Every id is one path segment: '/', '?', '#', '%', '&', spaces and non-ASCII are escaped."""
    assert show_job_request(ENDPOINT, project_id, job_id).url == ENDPOINT + path


def test_odd_cluster_id_is_percent_encoded() -> None:
    """A cluster id with a slash cannot escape its path segment."""
    request = show_cluster_request(ENDPOINT, "p", "../jobs/x")

    assert request.url == f"{ENDPOINT}/api/v3/projects/p/clusters/..%2Fjobs%2Fx"


def test_list_request_without_filters_has_no_query() -> None:
    """Listing with no (or empty) filters sends no query string at all."""
    url = f"{ENDPOINT}/api/v3/projects/proj123/clusters"

    assert list_clusters_request(ENDPOINT, "proj123").url == url
    assert list_clusters_request(ENDPOINT, "proj123", {}).url == url
    assert list_clusters_request(ENDPOINT, "proj123").kind == "list"
    assert list_clusters_request(ENDPOINT, "proj123").method == "GET"


def test_list_request_filters_become_a_sorted_query() -> None:
    """Filters are sent as a query sorted by key, whatever order they were given in."""
    request = list_clusters_request(
        ENDPOINT, "proj123", {"type": "VirtualMachine", "status": "Available", "detail": "true"}
    )

    assert request.url == (
        f"{ENDPOINT}/api/v3/projects/proj123/clusters"
        "?detail=true&status=Available&type=VirtualMachine"
    )
    assert dict(request.headers) == JSON


def test_list_request_filter_values_are_escaped() -> None:
    """A filter value with '&' or '=' cannot smuggle another query parameter in."""
    request = list_clusters_request(ENDPOINT, "p", {"version": "v1.28&detail=false"})

    assert request.url.endswith("/clusters?version=v1.28%26detail%3Dfalse")


def test_with_headers_returns_a_new_request_and_leaves_the_original_alone() -> None:
    """Adding headers copies the request; the original keeps only its own headers."""
    original = create_cluster_request(ENDPOINT, "p", {"kind": "Cluster"})

    extended = original.with_headers({"X-Auth-Token": "t"})

    assert dict(extended.headers) == {**JSON, "X-Auth-Token": "t"}
    assert dict(original.headers) == JSON
    assert (extended.method, extended.url, extended.body, extended.kind) == (
        original.method,
        original.url,
        original.body,
        original.kind,
    )


def test_response_header_lookup_is_case_insensitive() -> None:
    """Response.header finds a header whatever the case of its name, else None."""
    response = Response(200, {"x-request-id": "req-1", "Retry-After": "3"}, b"")

    assert response.header("X-Request-Id") == "req-1"
    assert response.header("X-REQUEST-ID") == "req-1"
    assert response.header("retry-after") == "3"
    assert response.header("X-Missing") is None


# ---- parse_error_body --------------------------------------------------------------------


def test_parse_camel_case_error_body() -> None:
    """The CCE style {"errorCode", "errorMessage"} gives its code and message."""
    body = _json({"errorCode": "CCE.01400001", "errorMessage": "Invalid request."})

    assert parse_error_body(body) == ("CCE.01400001", "Invalid request.")


def test_parse_snake_case_gateway_error_body() -> None:
    """The gateway style {"error_code", "error_msg", "request_id"} gives its code and message."""
    body = _json(
        {
            "error_code": "APIGW.0301",
            "error_msg": "Incorrect IAM authentication information: token expired",
            "request_id": "4f0b8c2e",
        }
    )

    assert parse_error_body(body) == (
        "APIGW.0301",
        "Incorrect IAM authentication information: token expired",
    )


def test_parse_mixed_status_body_follows_the_sdk_precedence() -> None:
    """In the mixed Status body error_code and error_msg win, and message is appended."""
    assert parse_error_body(_json(STATUS_BODY)) == (
        "CCE_CM.0004",
        "Request is invalid: Eni subnetId and subnetCidr not matched",
    )


def test_parse_status_body_with_only_camel_case_keys_appends_message() -> None:
    """Without snake-case keys the camel-case ones are used, still followed by ``message``."""
    body = {k: v for k, v in STATUS_BODY.items() if k not in ("error_code", "error_msg")}

    assert parse_error_body(_json(body)) == (
        "CCE.01400001",
        "Invalid request.: Eni subnetId and subnetCidr not matched",
    )


def test_parse_message_equal_to_error_msg_is_not_repeated() -> None:
    """``message`` is appended only when it says something the main message does not."""
    body = _json({"error_code": "CCE.01404001", "error_msg": "not found", "message": "not found"})

    assert parse_error_body(body) == ("CCE.01404001", "not found")


def test_parse_message_alone_is_the_message() -> None:
    """A Status body with only ``message`` (and an integer ``code``) yields that message."""
    body = _json({"kind": "Status", "code": 404, "message": 'clusters "x" not found'})

    assert parse_error_body(body) == (None, 'clusters "x" not found')


def test_parse_empty_snake_case_values_fall_back_to_camel_case() -> None:
    """Blank error_code / error_msg do not hide the camel-case values behind them."""
    body = _json(
        {"error_code": " ", "error_msg": "", "errorCode": "CCE.01403001", "errorMessage": "no"}
    )

    assert parse_error_body(body) == ("CCE.01403001", "no")


def test_parse_values_are_stripped() -> None:
    """Surrounding white space is trimmed from code and message."""
    body = _json({"error_code": "  APIGW.0308 ", "error_msg": "\tslow down\n"})

    assert parse_error_body(body) == ("APIGW.0308", "slow down")


def test_parse_nested_error_object() -> None:
    """The IAM style {"error": {"code", "message"}} gives the nested code and message."""
    body = _json({"error": {"code": "IAM.0001", "message": "The token is invalid."}})

    assert parse_error_body(body) == ("IAM.0001", "The token is invalid.")


def test_parse_html_502_page_is_stripped_and_folded() -> None:
    """An HTML page from a proxy becomes its text on one line: no tags, single spaces."""
    assert parse_error_body(NGINX_502) == (None, "502 Bad Gateway 502 Bad Gateway nginx")


def test_parse_long_html_page_is_trimmed_to_500_characters() -> None:
    """A long non-JSON body is cut to at most 500 characters, ending with an ellipsis."""
    words = " ".join(f"word{i}" for i in range(400))
    body = f"<html><body><p>{words}</p></body></html>".encode()

    code, message = parse_error_body(body)

    assert code is None
    assert message is not None
    assert len(message) == 500
    assert message.endswith("...")
    assert message[:-3] == words[:497]
    assert "<" not in message


@pytest.mark.parametrize("body", [b"", b"   \r\n\t ", b"<html><body></body></html>"])
def test_parse_empty_body_gives_nothing(body: bytes) -> None:
    """An empty body, blank text or an HTML page without text yields neither code nor message."""
    assert parse_error_body(body) == (None, None)


def test_parse_invalid_utf8_does_not_crash() -> None:
    """Bytes that are not UTF-8 come back as text with replacement characters."""
    assert parse_error_body(b"\xff\xfeBad gateway\xc3") == (None, "\ufffd\ufffdBad gateway\ufffd")


def test_parse_invalid_utf8_inside_json_does_not_crash() -> None:
    """A JSON-looking body with an invalid UTF-8 byte falls back to its replaced text."""
    assert parse_error_body(b'{"error_code": "X\xff"}') == (None, '{"error_code": "X\ufffd"}')


def test_parse_json_list_is_treated_as_text() -> None:
    """A JSON array is not an error object: no code, its text as the message."""
    assert parse_error_body(b'[{"error_code": "CCE.01400001"}]') == (
        None,
        '[{"error_code": "CCE.01400001"}]',
    )


def test_parse_json_string_is_treated_as_text() -> None:
    """A bare JSON string is not an error object: no code, its text as the message."""
    assert parse_error_body(b'"Service Unavailable"') == (None, '"Service Unavailable"')


# ---- error_from_response -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class", "retryable"),
    [
        (400, RequestRejectedError, False),
        (401, AuthenticationError, False),
        (403, PermissionDeniedError, False),
        (404, NotFoundError, False),
        (409, ConflictError, False),
        (422, RequestRejectedError, False),
        (429, ThrottledError, True),
        (500, ServerError, True),
        (502, ServerError, True),
        (503, ServerError, True),
    ],
)
def test_status_maps_onto_the_error_tree(
    status: int, error_class: type[ApiError], retryable: bool
) -> None:
    """Each HTTP status becomes its error class, carrying status, code, message, request id."""
    response = Response(
        status,
        {"x-request-id": "req-7"},
        _json({"error_code": "CCE.0", "error_msg": "went wrong"}),
    )

    error = error_from_response(response)

    assert type(error) is error_class
    assert error.http_status == status
    assert error.error_code == "CCE.0"
    assert error.message == "went wrong"
    assert error.request_id == "req-7"
    assert error.retryable is retryable
    assert error.attempts == 1
    assert str(error) == f"HTTP {status} CCE.0: went wrong (request req-7)"


@pytest.mark.parametrize("status", [400, 403])
@pytest.mark.parametrize("code", ["APIGW.0308", "APIG.0308", "CCE.01429003", "CCE.02429001"])
def test_throttling_code_under_another_status_is_throttling(status: int, code: str) -> None:
    """A flow-control error code means ThrottledError whatever status carries it."""
    response = Response(
        status,
        {"X-Request-Id": "req-9"},
        _json({"error_code": code, "error_msg": "The throttling threshold has been reached"}),
    )

    error = error_from_response(response)

    assert type(error) is ThrottledError
    assert error.http_status == status
    assert error.error_code == code
    assert error.message == "The throttling threshold has been reached"
    assert error.request_id == "req-9"
    assert error.retryable is True


def test_throttled_error_carries_retry_after_seconds() -> None:
    """A 429 with Retry-After (any header case) exposes the delay in seconds."""
    response = Response(
        429, {"retry-after": "12"}, _json({"error_code": "APIGW.0308", "error_msg": "slow"})
    )

    error = error_from_response(response)

    assert isinstance(error, ThrottledError)
    assert error.retry_after == 12.0


def test_throttled_error_without_retry_after_has_none() -> None:
    """A 429 without Retry-After leaves the delay to the client's own backoff."""
    error = error_from_response(Response(429, {}, b""))

    assert isinstance(error, ThrottledError)
    assert error.retry_after is None


def test_error_from_html_502_has_clean_text_and_no_code() -> None:
    """A proxy's HTML 502 becomes a ServerError with the page's text and no error code."""
    error = error_from_response(Response(502, {"Content-Type": "text/html"}, NGINX_502))

    assert type(error) is ServerError
    assert error.error_code is None
    assert error.message == "502 Bad Gateway 502 Bad Gateway nginx"
    assert error.request_id is None
    assert str(error) == "HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx"


def test_error_with_empty_body_says_so() -> None:
    """With nothing in the body the message still names the status."""
    error = error_from_response(Response(503, {}, b""))

    assert type(error) is ServerError
    assert error.message == "HTTP 503 with no explanation"
    assert error.error_code is None


def test_mixed_status_body_maps_with_sdk_code_and_message() -> None:
    """The mixed Status body under 400 is a rejection with the SDK's code and message."""
    error = error_from_response(Response(400, {"X-Request-Id": "abc"}, _json(STATUS_BODY)))

    assert type(error) is RequestRejectedError
    assert error.error_code == "CCE_CM.0004"
    assert error.message == "Request is invalid: Eni subnetId and subnetCidr not matched"
    assert error.request_id == "abc"


def test_request_id_comes_from_header_not_body() -> None:
    """The request id is the X-Request-Id header; the body's request_id is not used."""
    body = _json({"error_code": "APIGW.0301", "error_msg": "bad token", "request_id": "body-id"})

    assert error_from_response(Response(401, {}, body)).request_id is None
    assert error_from_response(Response(401, {"X-REQUEST-ID": "hdr"}, body)).request_id == "hdr"


def test_unexpected_redirect_is_a_transport_error() -> None:
    """A status that is neither success nor error (a redirect) means no usable answer."""
    error = error_from_response(Response(302, {"Location": "https://elsewhere"}, b""))

    assert type(error) is TransportError
    assert error.http_status == 302
    assert error.message == "unexpected HTTP 302"


@pytest.mark.parametrize(
    ("error_class", "retryable", "code"),
    [
        (TransportError, True, "api.transport"),
        (ThrottledError, True, "api.throttled"),
        (ServerError, True, "api.server"),
        (AuthenticationError, False, "api.unauthenticated"),
        (PermissionDeniedError, False, "api.forbidden"),
        (NotFoundError, False, "api.not_found"),
        (ConflictError, False, "api.conflict"),
        (RequestRejectedError, False, "api.rejected"),
    ],
)
def test_retryable_is_a_property_of_the_class(
    error_class: type[ApiError], retryable: bool, code: str
) -> None:
    """Only transport failures, throttling and server errors are worth another try."""
    assert error_class.retryable is retryable
    assert error_class("x").retryable is retryable
    assert error_class.code == code


# ---- parse_retry_after -------------------------------------------------------------------

_HTTP_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"
_HTTP_DATE_TS = float(calendar.timegm((2015, 10, 21, 7, 28, 0)))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("120", 120.0), ("0", 0.0), (" 7 ", 7.0), ("1.5", 1.5), ("0.25", 0.25)],
)
def test_retry_after_delta_seconds(value: str, seconds: float) -> None:
    """Delta seconds, whole or fractional, are read as they are."""
    assert parse_retry_after(value) == seconds


def test_retry_after_http_date_is_relative_to_now() -> None:
    """An HTTP date gives the seconds from ``now`` until then."""
    assert parse_retry_after(_HTTP_DATE, now=_HTTP_DATE_TS - 90.0) == 90.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    """A date already gone means no wait at all, never a negative one."""
    assert parse_retry_after(_HTTP_DATE, now=_HTTP_DATE_TS + 3600.0) == 0.0


def test_retry_after_negative_seconds_is_zero() -> None:
    """A negative delta is clamped to zero rather than producing a negative wait."""
    assert parse_retry_after("-5") == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "Wed, 99 Foo 2015", "1 minute"])
def test_retry_after_missing_or_garbage_is_none(value: str | None) -> None:
    """No header or an unreadable one gives None, so the client backs off on its own."""
    assert parse_retry_after(value, now=0.0) is None


# ---- decode ------------------------------------------------------------------------------


def test_decode_success_gives_the_model() -> None:
    """A 200 with a Job body decodes into the Job with its nested fields."""
    body = _json(
        {
            "kind": "Job",
            "apiVersion": "v3",
            "metadata": {"uid": "job-1"},
            "spec": {"type": "CreateCluster", "clusterUID": "c-1", "subJobs": []},
            "status": {"phase": "Running", "reason": ""},
        }
    )

    job = decode(Response(200, {}, body), Job)

    assert job.metadata.uid == "job-1"
    assert job.spec.cluster_uid == "c-1"
    assert job.spec.type == "CreateCluster"
    assert job.status.phase == "Running"


def test_decode_accepts_any_expected_status() -> None:
    """A create's 201 decodes when 201 is among the expected statuses."""
    body = _json({"metadata": {"uid": "c-1"}, "status": {"jobID": "job-1"}})

    cluster = decode(Response(201, {}, body), Cluster, expect=(200, 201))

    assert cluster.metadata.uid == "c-1"
    assert cluster.status.job_id == "job-1"


def test_decode_unexpected_success_status_is_not_decoded() -> None:
    """A 201 where only 200 is expected is an error, not a model."""
    with pytest.raises(TransportError) as caught:
        decode(Response(201, {}, b"{}"), Cluster)

    assert caught.value.http_status == 201


def test_decode_wrong_status_raises_the_mapped_error() -> None:
    """An error status raises the error the status and body mean."""
    response = Response(
        404,
        {"X-Request-Id": "r-404"},
        _json({"errorCode": "CCE.01404001", "errorMessage": "job not found"}),
    )

    with pytest.raises(NotFoundError) as caught:
        decode(response, Job)

    assert caught.value.http_status == 404
    assert caught.value.error_code == "CCE.01404001"
    assert caught.value.message == "job not found"
    assert caught.value.request_id == "r-404"


@pytest.mark.parametrize(
    "body",
    [
        NGINX_502,
        b'{"kind": "Job", "metadata": {"uid": "jo',
        b"",
        b'["not", "an", "object"]',
        b"\xff\xfe",
    ],
    ids=["html", "truncated", "empty", "list", "not-utf8"],
)
def test_decode_unusable_success_body_is_a_transport_error(body: bytes) -> None:
    """A 200 whose body is not the expected JSON object is a TransportError, not a crash."""
    with pytest.raises(TransportError) as caught:
        decode(Response(200, {"X-Request-Id": "r-200"}, body), Job)

    error = caught.value
    assert type(error) is TransportError
    assert error.http_status == 200
    assert error.request_id == "r-200"
    assert error.message.startswith("HTTP 200 answer is not a valid Job: ")
    assert error.retryable is True


def test_decode_wrong_shape_is_a_transport_error() -> None:
    """Valid JSON of the wrong shape (items not a list) is a TransportError too."""
    with pytest.raises(TransportError) as caught:
        decode(Response(200, {}, _json({"items": "nope"})), ClusterList)

    assert caught.value.message.startswith("HTTP 200 answer is not a valid ClusterList: ")


def test_request_is_a_frozen_value() -> None:
    """A Request cannot be changed once built, so a retry re-sends exactly the same call."""
    request = Request("GET", f"{ENDPOINT}/x")

    with pytest.raises(AttributeError):
        request.url = "https://elsewhere"  # type: ignore[misc]
    assert request.url == f"{ENDPOINT}/x"


def test_a_list_with_null_items_is_an_empty_list() -> None:
    """An empty project may answer "items": null; that is no cluster, not an error."""
    from batchcreate.models import ClusterList
    from batchcreate.wire import Response, decode

    listing = decode(Response(200, {}, b'{"kind": "Cluster", "items": null}'), ClusterList)
    assert listing.items == []
