"""The I/O edge: sending a ``Request`` and receiving a ``Response``.

``AiohttpTransport`` is the only place the client touches aiohttp. It borrows the caller's
``ClientSession`` (one per run, never one per request) and turns every way a call can fail
without an HTTP answer into a ``TransportError``.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp

from batchcreate.errors import TransportError
from batchcreate.wire import Request, Response

#: Larger answers are not CCE's: a list of every cluster in a project stays far below it.
MAX_BODY_BYTES = 64 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024


class Transport(Protocol):
    """Sends one request and returns the answer, or raises ``TransportError``."""

    async def send(self, request: Request) -> Response: ...


class AiohttpTransport:
    """A transport over the caller's aiohttp ``ClientSession``."""

    def __init__(self, session: aiohttp.ClientSession, *, timeout: float = 30.0) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(self, request: Request) -> Response:
        try:
            async with self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body or None,
                timeout=self._timeout,
                allow_redirects=False,
            ) as answer:
                chunks: list[bytes] = []
                size = 0
                async for chunk in answer.content.iter_chunked(READ_CHUNK_BYTES):
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise TransportError(
                            f"{request.method} {request.url}: answer larger than "
                            f"{MAX_BODY_BYTES} bytes",
                            http_status=answer.status,
                        )
                    chunks.append(chunk)
                return Response(answer.status, dict(answer.headers), b"".join(chunks))
        except TimeoutError:
            raise TransportError(
                f"{request.method} {request.url}: no answer within {self._timeout.total:g}s"
            ) from None
        except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            raise TransportError(f"{request.method} {request.url}: {detail}") from None

    def __repr__(self) -> str:
        return f"AiohttpTransport(timeout={self._timeout.total:g}s)"
