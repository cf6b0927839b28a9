"""The I/O edge: sending a ``Request`` and receiving a ``Response``.

``AiohttpTransport`` is the only place the client touches aiohttp. It borrows the caller's
``ClientSession`` (one per run, never one per request) and turns every way a call can fail
without an HTTP answer into a ``TransportError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit
from urllib.request import getproxies

import aiohttp

from batchcreate.errors import TransportError
from batchcreate.onwire import mark_on_wire
from batchcreate.wire import Request, Response

#: Larger answers are not CCE's: a list of every cluster in a project stays far below it.
MAX_BODY_BYTES = 64 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024


class Transport(Protocol):
    """Sends one request and returns the answer, or raises ``TransportError``.

    A transport that can tell when a request's bytes go out calls
    ``onwire.mark_on_wire`` then; one that cannot leaves it to its caller, who marks it
    once the answer is in.
    """

    async def send(self, request: Request) -> Response: ...


class WireMarkingRequest(aiohttp.ClientRequest):
    """aiohttp's request, calling ``mark_on_wire`` as its bytes go out (the session's
    ``request_class``). aiohttp writes a body in a task of its own, a turn of the event
    loop or more after ``send`` (tens of ms when the loop is busy): that task marks it.
    A request without a body is written by ``send`` itself (aiohttp 3.11 and later;
    earlier ones write every request in that task, and send the headers of one with a body
    from ``send``, a turn before the body: marked with the body, a little late, which only
    ever holds the next call back)."""

    _writes_body = False

    def write_bytes(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, None]:
        self._writes_body = True
        return self._write_marked(*args, **kwargs)

    async def _write_marked(self, *args: Any, **kwargs: Any) -> None:
        # aiohttp's coroutine is made only here, once the task runs: a task cancelled
        # before its first step leaves no coroutine that was never awaited.
        mark_on_wire()  # the write itself goes to the socket before the first await
        await super().write_bytes(*args, **kwargs)

    async def send(self, conn: Any) -> aiohttp.ClientResponse:
        response = await super().send(conn)
        if not self._writes_body:
            mark_on_wire()
        return response


class EnvProxies:
    """The proxy for each origin from ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``, looked
    up once per origin.

    aiohttp's ``trust_env=True`` does the same lookup (and a ``.netrc`` one) on every
    request, in a worker thread: a third of a call's CPU in a large batch.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._proxies = getproxies() if environ is None else _proxies_from(environ)
        self._by_origin: dict[tuple[str, str], str | None] = {}

    def for_url(self, url: str) -> str | None:
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        if origin not in self._by_origin:
            proxy = self._proxies.get(parts.scheme)
            if proxy and _bypassed(parts.hostname or "", parts.netloc, self._proxies.get("no")):
                proxy = None
            self._by_origin[origin] = proxy or None
        return self._by_origin[origin]


def _bypassed(host: str, netloc: str, no_proxy: str | None) -> bool:
    """Whether ``NO_PROXY`` (comma-separated hosts, ``.domains``, ``host:port``, or ``*``)
    sends ``host`` direct."""
    for entry in (no_proxy or "").replace(" ", "").split(","):
        if entry == "*":
            return True
        entry = entry.lstrip(".").lower()
        if entry and (entry == netloc.lower() or host == entry or host.endswith("." + entry)):
            return True
    return False


def _proxies_from(environ: Mapping[str, str]) -> dict[str, str]:
    """``getproxies()`` for an explicit environment: ``<scheme>_proxy``, any case, and
    ``no``."""
    out: dict[str, str] = {}
    for key, value in environ.items():
        if value and key.lower().endswith("_proxy"):
            out[key.lower()[: -len("_proxy")]] = value
    return out


class AiohttpTransport:
    """A transport over the caller's aiohttp ``ClientSession``; ``proxies`` (when given)
    choose a proxy per origin. A session made with ``request_class=WireMarkingRequest``
    marks each request as it goes on the wire; over any other, the client marks it once
    the answer is in."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 30.0,
        proxies: EnvProxies | None = None,
    ) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._proxies = proxies

    async def send(self, request: Request) -> Response:
        proxy = self._proxies.for_url(request.url) if self._proxies is not None else None
        try:
            async with self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body or None,
                timeout=self._timeout,
                allow_redirects=False,
                proxy=proxy,
            ) as answer:
                return Response(answer.status, dict(answer.headers), await _body(request, answer))
        except TimeoutError:
            raise TransportError(
                f"{request.method} {request.url}: no answer within {self._timeout.total:g}s"
            ) from None
        except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
            raise TransportError(f"{request.method} {request.url}: {detail}") from None

    def __repr__(self) -> str:
        return f"AiohttpTransport(timeout={self._timeout.total:g}s)"


async def _body(request: Request, answer: aiohttp.ClientResponse) -> bytes:
    """The answer's body, refused past ``MAX_BODY_BYTES``: read at once when its length
    is announced (as CCE's always is) and it is not compressed (the length would be the
    compressed one), else chunk by chunk, counting what aiohttp hands over."""
    length = answer.content_length
    if length is not None and answer.headers.get("Content-Encoding", "identity") == "identity":
        if length > MAX_BODY_BYTES:
            raise _too_large(request, answer)
        return await answer.read()
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_chunked(READ_CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(request, answer)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(request: Request, answer: aiohttp.ClientResponse) -> TransportError:
    return TransportError(
        f"{request.method} {request.url}: answer larger than {MAX_BODY_BYTES} bytes",
        http_status=answer.status,
    )
