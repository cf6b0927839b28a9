"""The fake CCE over real HTTP: an aiohttp server on loopback around ``FakeCce``.

Faults are acted out on the wire: a reset aborts the connection without an answer (the
client sees its connection drop), a lost create aborts it after the request was processed,
and a slow answer is sent only after its delay, or never if the simulator stops first.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from batchcreate.simulator.fake_cce import FakeCce

LEDGER_PATH = "/_simulator/ledger"


def make_app(cce: FakeCce, *, closing: asyncio.Event | None = None) -> web.Application:
    """An aiohttp application that answers every request from ``cce``; setting ``closing``
    drops the connections of slow answers still waiting, so a stop is never held up."""
    closing = closing or asyncio.Event()

    async def ledger(_request: web.Request) -> web.Response:
        return web.json_response(cce.ledger())

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        served = cce.serve(
            request.method, request.path, request.query, request.headers, body, request.raw_path
        )
        if served.delay and await _stopped_within(closing, served.delay):
            return _drop(request)
        if served.answer is None or served.reset_after:
            return _drop(request)
        answer = served.answer
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    app = web.Application()
    app.router.add_get(LEDGER_PATH, ledger)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _stopped_within(closing: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds``, or less if ``closing`` is set first; whether it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closing.wait(), seconds)
    return closing.is_set()


def _drop(request: web.Request) -> web.StreamResponse:
    """Abort the request's connection so that the client gets no answer at all."""
    if request.transport is not None:
        request.transport.abort()
    # Nothing reaches the client once the transport is aborted; aiohttp just needs a return.
    return web.Response()


@dataclass
class RunningSimulator:
    """A started simulator: its base URL, and how to stop it."""

    url: str
    cce: FakeCce
    runner: web.AppRunner
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self) -> None:
        self.closing.set()
        await self.runner.cleanup()

    async def __aenter__(self) -> RunningSimulator:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def start_simulator(cce: FakeCce, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Serve ``cce`` on ``host:port`` (port 0: any free port) until ``stop``."""
    closing = asyncio.Event()
    runner = web.AppRunner(make_app(cce, closing=closing), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    return RunningSimulator(f"http://{shown}:{bound}", cce, runner, closing)
