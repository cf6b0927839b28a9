"""A transport that hands requests straight to a ``FakeCce``: no sockets, so a batch can
run in virtual time (tests of timing logic, the scheduling benchmark)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl, urlsplit

from batchcreate.simulator.fake_cce import FakeCce
from batchcreate.wire import Request, Response


class InMemoryTransport:
    """Sends each request to ``cce.handle`` and records it."""

    def __init__(self, cce: FakeCce) -> None:
        self.cce = cce
        self.sent: list[Request] = []

    async def send(self, request: Request) -> Response:
        self.sent.append(request)
        await asyncio.sleep(0)  # a real send yields to the loop; so does this one
        parts = urlsplit(request.url)
        answer = self.cce.handle(
            request.method, parts.path, dict(parse_qsl(parts.query)), request.headers, request.body
        )
        return Response(answer.status, answer.headers, answer.body)
