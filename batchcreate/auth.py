"""How calls prove who they are: the ``Authenticator`` seam, and a fixed IAM token.

AK/SK signing (``signing.AkSkAuth``) and IAM password tokens (``iam.IamTokenAuth``) are the
other implementations; ``authenticators`` routes each project to its own.

An ``Authenticator`` turns a request into an authenticated one just before it is sent
(after the rate limiter, so a signature's timestamp is fresh). Nothing here logs or
prints a secret: ``repr`` masks it.
"""

from __future__ import annotations

from typing import Protocol

from batchcreate.wire import Request


class Authenticator(Protocol):
    """Adds credentials to a request."""

    async def authenticate(self, request: Request, project_id: str) -> Request: ...

    async def refresh(self, project_id: str) -> bool:
        """After a 401: get fresh credentials if this source can; True when it did."""

    def describe(self) -> str:
        """What kind of credentials, without any secret, for reports and messages."""


class TokenAuth:
    """An IAM token in ``X-Auth-Token`` on every call."""

    def __init__(self, token: str) -> None:
        if not token.strip():
            raise ValueError("token is empty")
        self._token = token.strip()

    async def authenticate(self, request: Request, project_id: str) -> Request:
        return request.with_headers({"X-Auth-Token": self._token})

    async def refresh(self, project_id: str) -> bool:
        return False  # a fixed token cannot be renewed

    def describe(self) -> str:
        return "token"

    def __repr__(self) -> str:
        return "TokenAuth(token='***')"


class NoAuth:
    """No credentials: only for simulators that do not check them."""

    async def authenticate(self, request: Request, project_id: str) -> Request:
        return request

    async def refresh(self, project_id: str) -> bool:
        return False

    def describe(self) -> str:
        return "none"

    def __repr__(self) -> str:
        return "NoAuth()"
