"""The error tree: every failure batchcreate reports carries a machine-readable ``code``.

    BatchcreateError
    ├── ManifestError            the manifest cannot be read or is invalid (exit 2)
    ├── CredentialsError         no usable credentials were found (exit 3)
    └── ApiError                 an HTTP answer, or the lack of one, from the CCE API
        ├── TransportError       no usable answer: connection, timeout, unreadable body
        ├── ThrottledError       429, or a throttling error code under another status
        ├── ServerError          5xx
        ├── AuthenticationError  401
        ├── PermissionDeniedError 403
        ├── NotFoundError        404
        ├── ConflictError        409: the resource already exists
        └── RequestRejectedError any other 4xx

Whether a failure is worth retrying is a property of its class (``retryable``), never an
``if`` in the runner. ``batchcreate.wire.error_from_response`` is the one place that maps
HTTP answers onto this tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class BatchcreateError(Exception):
    """Base of every error batchcreate raises on purpose."""

    code = "batchcreate.error"


@dataclass(frozen=True)
class Problem:
    """One located problem in a manifest: where, and what is wrong there."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ManifestError(BatchcreateError):
    """The manifest is unreadable, unparsable or invalid; carries every problem found."""

    code = "manifest.invalid"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        first = str(self.problems[0]) if self.problems else "invalid manifest"
        super().__init__(first if count == 1 else f"{count} problems; first: {first}")


class CredentialsError(BatchcreateError):
    """No usable credentials; the message says which sources were tried."""

    code = "credentials.missing"


class ApiError(BatchcreateError):
    """An answer from the CCE API (or the lack of one) that is not the expected success."""

    code = "api.error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.error_code = error_code
        self.request_id = request_id
        #: Seconds the server asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after
        #: How many times the call was sent before this error was given up on.
        self.attempts = 1

    def __str__(self) -> str:
        parts = [f"HTTP {self.http_status}" if self.http_status else "no HTTP answer"]
        if self.error_code:
            parts.append(self.error_code)
        text = f"{' '.join(parts)}: {self.message}"
        return f"{text} (request {self.request_id})" if self.request_id else text


class TransportError(ApiError):
    """The call got no usable answer: connection refused or reset, timeout, unreadable body."""

    code = "api.transport"
    retryable = True


class ThrottledError(ApiError):
    """The gateway or the service refused the call for flow control."""

    code = "api.throttled"
    retryable = True


class ServerError(ApiError):
    """The service failed (5xx)."""

    code = "api.server"
    retryable = True


class AuthenticationError(ApiError):
    """The credentials were rejected (401)."""

    code = "api.unauthenticated"


class PermissionDeniedError(ApiError):
    """The credentials lack permission for the call (403)."""

    code = "api.forbidden"


class NotFoundError(ApiError):
    """The resource does not exist, or no longer does (404)."""

    code = "api.not_found"


class ConflictError(ApiError):
    """The resource already exists (409)."""

    code = "api.conflict"


class RequestRejectedError(ApiError):
    """The service refused the request as invalid (any other 4xx)."""

    code = "api.rejected"
