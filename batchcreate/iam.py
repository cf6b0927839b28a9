"""IAM password tokens: ``POST /v3/auth/tokens``, cached per project, fetched once for all.

The sans-I/O half builds the token request and reads the answer (the token is in the
``X-Subject-Token`` header, its expiry in the body's ``token.expires_at``). ``IamTokenAuth``
keeps one token per (IAM endpoint, scope), refreshes it ahead of expiry on the injected
clock, lets concurrent callers share a single fetch, and remembers a rejected password so
that a batch of fifty clusters never tries it fifty times (IAM locks users that do).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from batchcreate.clock import Clock
from batchcreate.errors import ApiError, AuthenticationError, PermissionDeniedError, TransportError
from batchcreate.transport import Transport
from batchcreate.wire import JSON_CONTENT_TYPE, Request, Response, error_from_response

IAM_ENDPOINT_ENV = "HUAWEICLOUD_SDK_IAM_ENDPOINT"
GLOBAL_IAM_ENDPOINT = "https://iam.myhuaweicloud.com"
TOKEN_PATH = "/v3/auth/tokens"
SUBJECT_TOKEN_HEADER = "X-Subject-Token"
#: What the facts page says a token lives when the answer does not say.
DEFAULT_TOKEN_LIFETIME = 24 * 3600.0
#: Refresh this long before expiry (or at half the lifetime, if that is sooner).
REFRESH_MARGIN = 15 * 60.0
#: A 401 for a token younger than this (or a quarter of its life) was for an older token:
#: the retry uses the fresh one instead of fetching yet another.
REFRESH_COOLDOWN = 30.0

Scope = Literal["project", "region"]


def iam_endpoint(
    region: str | None, *, override: str | None = None, environ: Mapping[str, str]
) -> str:
    """Where IAM is: ``override``, else ``HUAWEICLOUD_SDK_IAM_ENDPOINT``, else by region.

    Without a region either, the global endpoint.
    """
    chosen = override or environ.get(IAM_ENDPOINT_ENV, "").strip()
    if chosen:
        return chosen.rstrip("/")
    return f"https://iam.{region}.myhuaweicloud.com" if region else GLOBAL_IAM_ENDPOINT


def token_request(
    endpoint: str,
    *,
    user: str,
    password: str,
    domain: str,
    project_id: str | None = None,
    region: str | None = None,
) -> Request:
    """The password-token request, scoped to a project by id or to a region by name."""
    if (project_id is None) == (region is None):
        raise ValueError("scope the token to exactly one of a project id or a region")
    scope = {"id": project_id} if project_id is not None else {"name": region}
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "password": password, "domain": {"name": domain}}
                },
            },
            "scope": {"project": scope},
        }
    }
    return Request(
        "POST",
        endpoint.rstrip("/") + TOKEN_PATH,
        {"Content-Type": JSON_CONTENT_TYPE},
        json.dumps(body, ensure_ascii=False).encode(),
        "iam.token",
    )


@dataclass(frozen=True)
class IamToken:
    """A token and how long it lives from the moment it was asked for."""

    value: str = field(repr=False)
    lifetime: float

    def __repr__(self) -> str:
        return f"IamToken(value='***', lifetime={self.lifetime:g})"


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        return None


def parse_token_response(response: Response, *, received_at: float) -> IamToken:
    """The token an IAM answer carries, or the error it means.

    The lifetime is ``expires_at - issued_at`` (both on IAM's clock, so local clock skew
    does not matter); without ``issued_at``, ``expires_at`` minus ``received_at`` (local
    wall-clock seconds); without either, a day.
    """
    if response.status not in (200, 201):
        raise error_from_response(response)
    token = (response.header(SUBJECT_TOKEN_HEADER) or "").strip()
    if not token:
        raise TransportError(
            f"IAM answered HTTP {response.status} without an {SUBJECT_TOKEN_HEADER} header",
            http_status=response.status,
            request_id=response.header("X-Request-Id"),
        )
    try:
        data: Any = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        data = None
    body = data.get("token") if isinstance(data, dict) else None
    body = body if isinstance(body, dict) else {}
    expires = _timestamp(body.get("expires_at"))
    issued = _timestamp(body.get("issued_at"))
    if expires is None:
        lifetime = DEFAULT_TOKEN_LIFETIME
    else:
        lifetime = expires - (issued if issued is not None else received_at)
    if lifetime <= 0:
        raise TransportError(
            f"IAM issued a token that has already expired (expires_at {body.get('expires_at')})",
            http_status=response.status,
            request_id=response.header("X-Request-Id"),
        )
    return IamToken(token, lifetime)


@dataclass(frozen=True)
class _Cached:
    token: IamToken
    fetched_at: float
    refresh_at: float
    expires_at: float


def _copy(error: ApiError, context: str = "") -> ApiError:
    """A fresh error like ``error`` (a remembered error is never re-raised itself)."""
    return type(error)(
        f"{context}: {error.message}" if context else error.message,
        http_status=error.http_status,
        error_code=error.error_code,
        request_id=error.request_id,
        retry_after=error.retry_after,
    )


class IamTokenAuth:
    """``X-Auth-Token`` from IAM for a user's password, one cached token per project scope."""

    def __init__(
        self,
        transport: Transport,
        clock: Clock,
        *,
        user: str,
        password: str,
        domain: str,
        endpoint: str,
        scope: Scope = "project",
        region: str | None = None,
        refresh_margin: float = REFRESH_MARGIN,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        if not (user and password and domain):
            raise ValueError("IAM password auth needs a user, a password and a domain")
        if scope == "region" and not region:
            raise ValueError("a region-scoped token needs the region")
        self._transport = transport
        self._clock = clock
        self._user = user
        self._password = password
        self._domain = domain
        self._endpoint = endpoint.rstrip("/")
        self._scope: Scope = scope
        self._region = region
        self._margin = refresh_margin
        self._on_token = on_token
        self._cache: dict[tuple[str, str], _Cached] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[IamToken]] = {}
        self._rejected: dict[tuple[str, str], ApiError] = {}
        #: How many token requests were sent, for reports and tests.
        self.fetches = 0

    def _key(self, project_id: str) -> tuple[str, str]:
        scoped = f"region:{self._region}" if self._scope == "region" else project_id
        return (self._endpoint, scoped)

    async def token(self, project_id: str) -> str:
        """A valid token for ``project_id``: cached, or fetched once for every waiting caller.

        When a refresh ahead of expiry fails for a passing reason, the old token is used
        for as long as it still lives.
        """
        key = self._key(project_id)
        if key in self._rejected:
            raise _copy(self._rejected[key])
        cached = self._cache.get(key)
        now = self._clock.monotonic()
        if cached is not None and now < cached.refresh_at:
            return cached.token.value
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(key, project_id))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._forget(key, done))
        try:
            # shield: one caller cancelled must not cancel the fetch the others wait on.
            token = await asyncio.shield(pending)
        except ApiError:
            if key in self._rejected or cached is None:
                raise
            if self._clock.monotonic() >= cached.expires_at:
                raise
            return cached.token.value
        return token.value

    def _forget(self, key: tuple[str, str], done: asyncio.Future[IamToken]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
        if not done.cancelled():
            done.exception()  # mark it retrieved: every waiter already got it

    async def _fetch(self, key: tuple[str, str], project_id: str) -> IamToken:
        request = token_request(
            self._endpoint,
            user=self._user,
            password=self._password,
            domain=self._domain,
            project_id=project_id if self._scope == "project" else None,
            region=self._region if self._scope == "region" else None,
        )
        started = self._clock.monotonic()
        self.fetches += 1
        response = await self._transport.send(request)
        try:
            token = parse_token_response(response, received_at=self._clock.time())
        except (AuthenticationError, PermissionDeniedError) as error:
            self._rejected[key] = _copy(
                error, f"IAM refused a token for user {self._user!r} in domain {self._domain!r}"
            )
            raise _copy(self._rejected[key]) from None
        if self._on_token is not None:
            self._on_token(token.value)
        margin = min(self._margin, token.lifetime / 2)
        expires_at = started + token.lifetime
        self._cache[key] = _Cached(token, started, expires_at - margin, expires_at)
        return token

    def invalidate(self, project_id: str, *, token: str | None = None) -> None:
        """Forget the cached token so the next call fetches a new one (after a 401).

        With ``token``, only if it is still the cached one: fifty calls rejected with the
        same expired token cause one refresh, not fifty.
        """
        key = self._key(project_id)
        cached = self._cache.get(key)
        if cached is not None and (token is None or cached.token.value == token):
            del self._cache[key]

    async def refresh(self, project_id: str) -> bool:
        """After a 401: fetch a new token unless one newer than the rejected one exists.

        True when a fresh token is ready; False when IAM could not be reached. A password
        IAM now refuses raises its ``AuthenticationError``, which says more than the 401.
        """
        key = self._key(project_id)
        cached = self._cache.get(key)
        if cached is not None and key not in self._pending:
            cooldown = min(REFRESH_COOLDOWN, cached.token.lifetime / 4)
            if self._clock.monotonic() - cached.fetched_at >= cooldown:
                del self._cache[key]
        try:
            await self.token(project_id)
        except (AuthenticationError, PermissionDeniedError):
            raise
        except ApiError:
            return False
        return True

    async def authenticate(self, request: Request, project_id: str) -> Request:
        return request.with_headers({"X-Auth-Token": await self.token(project_id)})

    def describe(self) -> str:
        return "iam password"

    def __repr__(self) -> str:
        return (
            f"IamTokenAuth(user={self._user!r}, domain={self._domain!r}, password='***', "
            f"endpoint={self._endpoint!r}, scope={self._scope!r})"
        )
