"""A transport that hands requests straight to a ``FakeCce``: no sockets, so a batch can
run in virtual time (tests of timing logic, the scheduling benchmark).

Faults are acted out as the aiohttp transport would report them: a reset or a lost answer
raises ``TransportError``; a slow answer waits on the fake's clock, and when it is slower
than ``timeout`` the wait ends at ``timeout`` with a ``TransportError``, as a client's
timeout would.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, urlsplit

from batchcreate.errors import TransportError
from batchcreate.onwire import mark_on_wire
from batchcreate.simulator.fake_cce import FakeCce
from batchcreate.wire import Request, Response


class InMemoryTransport:
    """Sends each request to ``cce.serve``, acts out its fault, and records it."""

    def __init__(self, cce: FakeCce, *, timeout: float | None = None) -> None:
        self.cce = cce
        #: Seconds before a call with no answer yet gives up, like a client's timeout.
        self.timeout = timeout
        self.sent: list[Request] = []

    async def send(self, request: Request) -> Response:
        self.sent.append(request)
        mark_on_wire()
        await asyncio.sleep(0)  # a real send yields to the loop; so does this one
        parts = urlsplit(request.url)
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        served = self.cce.serve(
            request.method,
            parts.path,
            dict(parse_qsl(parts.query)),
            request.headers,
            request.body,
            target,
        )
        where = f"{request.method} {request.url}"
        if served.answer is None:
            raise TransportError(f"{where}: connection reset by peer")
        if served.delay:
            if self.timeout is not None and served.delay > self.timeout:
                await self.cce.clock.sleep(self.timeout)
                raise TransportError(f"{where}: no answer within {self.timeout:g}s")
            await self.cce.clock.sleep(served.delay)
        if served.reset_after:
            raise TransportError(f"{where}: connection reset by peer before the answer")
        answer = served.answer
        return Response(answer.status, answer.headers, answer.body)

    def __repr__(self) -> str:
        timeout = "none" if self.timeout is None else f"{self.timeout:g}s"
        return f"InMemoryTransport(timeout={timeout})"
