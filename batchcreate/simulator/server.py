"""The fake CCE over real HTTP: an aiohttp server on loopback around ``FakeCce``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from batchcreate.simulator.fake_cce import FakeCce

LEDGER_PATH = "/_simulator/ledger"


def make_app(cce: FakeCce) -> web.Application:
    """An aiohttp application that answers every request from ``cce``."""

    async def ledger(_request: web.Request) -> web.Response:
        return web.json_response(cce.ledger())

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        answer = cce.handle(request.method, request.path, request.query, request.headers, body)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    app = web.Application()
    app.router.add_get(LEDGER_PATH, ledger)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@dataclass
class RunningSimulator:
    """A started simulator: its base URL, and how to stop it."""

    url: str
    cce: FakeCce
    runner: web.AppRunner

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def __aenter__(self) -> RunningSimulator:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def start_simulator(cce: FakeCce, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Serve ``cce`` on ``host:port`` (port 0: any free port) until ``stop``."""
    runner = web.AppRunner(make_app(cce), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    return RunningSimulator(f"http://{shown}:{bound}", cce, runner)
