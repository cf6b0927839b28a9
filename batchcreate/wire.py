"""The sans-I/O core of the CCE client: requests as values, answers deciphered into models
or into the error tree. Nothing here touches a socket.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ValidationError

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

M = TypeVar("M", bound=BaseModel)

JSON_CONTENT_TYPE = "application/json"
#: Error codes that mean flow control whatever HTTP status carries them.
THROTTLING_CODES = frozenset({"APIGW.0308", "APIG.0308", "CCE.01429003", "CCE.02429001"})
_MAX_MESSAGE = 500


@dataclass(frozen=True)
class Request:
    """One HTTP request, fully described, ready for a transport (and, later, for signing)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: What the call is, for logs and metrics: ``create``, ``job``, ``cluster``, ``list``.
    kind: str = ""

    def with_headers(self, extra: Mapping[str, str]) -> Request:
        return Request(self.method, self.url, {**self.headers, **extra}, self.body, self.kind)


@dataclass(frozen=True)
class Response:
    """One HTTP answer as a transport received it."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


def _project_path(project_id: str, *rest: str) -> str:
    segments = ["api", "v3", "projects", project_id, *rest]
    return "/" + "/".join(quote(s, safe="") for s in segments)


def encode_body(body: Mapping[str, Any]) -> bytes:
    """A request body as sent: compact UTF-8 JSON."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def create_cluster_request(
    endpoint: str, project_id: str, body: Mapping[str, Any] | bytes
) -> Request:
    """POST a create; ``body`` as a mapping, or already encoded (``encode_body``)."""
    return Request(
        "POST",
        endpoint + _project_path(project_id, "clusters"),
        {"Content-Type": JSON_CONTENT_TYPE},
        body if isinstance(body, bytes) else encode_body(body),
        "create",
    )


def show_job_request(endpoint: str, project_id: str, job_id: str) -> Request:
    return Request(
        "GET",
        endpoint + _project_path(project_id, "jobs", job_id),
        {"Content-Type": JSON_CONTENT_TYPE},
        kind="job",
    )


def show_cluster_request(endpoint: str, project_id: str, cluster_id: str) -> Request:
    return Request(
        "GET",
        endpoint + _project_path(project_id, "clusters", cluster_id),
        {"Content-Type": JSON_CONTENT_TYPE},
        kind="cluster",
    )


def list_clusters_request(
    endpoint: str, project_id: str, filters: Mapping[str, str] | None = None
) -> Request:
    query = f"?{urlencode(sorted(filters.items()))}" if filters else ""
    return Request(
        "GET",
        endpoint + _project_path(project_id, "clusters") + query,
        {"Content-Type": JSON_CONTENT_TYPE},
        kind="list",
    )


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    """(error code, message) from an error body in any of the service's key styles.

    Follows the official SDK: ``error_code`` else ``errorCode``; ``error_msg`` else
    ``errorMessage``, with ``message`` appended when it says something else. A body that
    is not JSON yields its text (an HTML 502 page from a proxy, say), trimmed.
    """
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        nested = data.get("error")
        if isinstance(nested, dict):  # {"error": {"code": ..., "message": ...}} from IAM
            data = {**nested, **data}
        code = (
            _text(data.get("error_code")) or _text(data.get("errorCode")) or _text(data.get("code"))
        )
        message = _text(data.get("error_msg")) or _text(data.get("errorMessage"))
        extra = _text(data.get("message"))
        if extra and extra != message:
            message = f"{message}: {extra}" if message else extra
        return code, message
    text = body.decode("utf-8", errors="replace")
    return None, _squash(text) or None


def _squash(text: str) -> str:
    """A non-JSON body as one short line: tags dropped, white space folded."""
    out, depth = [], 0
    for ch in text:
        if ch == "<":
            depth += 1
        elif ch == ">" and depth:
            depth -= 1
            out.append(" ")
        elif not depth:
            out.append(ch)
    line = " ".join("".join(out).split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def error_from_response(response: Response) -> ApiError:
    """The one mapping of an unsuccessful HTTP answer onto the error tree."""
    code, message = parse_error_body(response.body)
    status = response.status
    request_id = response.header("X-Request-Id")
    text = message or f"HTTP {status} with no explanation"
    kw: dict[str, Any] = {
        "http_status": status,
        "error_code": code,
        "request_id": request_id,
        "retry_after": parse_retry_after(response.header("Retry-After")),
    }
    if status == 429 or (code in THROTTLING_CODES):
        return ThrottledError(text, **kw)
    if status == 401:
        return AuthenticationError(text, **kw)
    if status == 403:
        return PermissionDeniedError(text, **kw)
    if status == 404:
        return NotFoundError(text, **kw)
    if status == 409:
        return ConflictError(text, **kw)
    if status >= 500:
        return ServerError(text, **kw)
    if status >= 400:
        return RequestRejectedError(text, **kw)
    return TransportError(f"unexpected HTTP {status}", **kw)


def decode(response: Response, model: type[M], *, expect: tuple[int, ...] = (200,)) -> M:
    """The model an answer carries, or the error it means.

    A success status with a body that is not the expected JSON (a proxy's page, a truncated
    answer) is a ``TransportError``: nothing usable came back.
    """
    if response.status not in expect:
        raise error_from_response(response)
    try:
        return model.model_validate_json(response.body)
    except ValidationError as exc:
        raise TransportError(
            f"HTTP {response.status} answer is not a valid {model.__name__}: "
            f"{exc.errors(include_url=False)[0]['msg'] if exc.errors() else exc}",
            http_status=response.status,
            request_id=response.header("X-Request-Id"),
        ) from None
