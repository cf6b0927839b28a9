"""The aiohttp transport over loopback: bodies read whole, with or without an announced
length or compressed, and refused past the size cap every way; requests marked as they go
on the wire."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from batchcreate import transport as transport_module
from batchcreate.errors import TransportError
from batchcreate.onwire import ON_WIRE
from batchcreate.transport import AiohttpTransport, WireMarkingRequest
from batchcreate.wire import Request, Response

CAP = 1000


async def _fixed(request: web.Request) -> web.Response:
    size = int(request.query["size"])
    return web.Response(body=b"x" * size, content_type="application/json")


async def _gzipped(request: web.Request) -> web.Response:
    """A compressed answer: its Content-Length is the compressed size, far below the body's."""
    size = int(request.query["size"])
    return web.Response(
        body=gzip.compress(b"z" * size),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )


async def _chunked(request: web.Request) -> web.StreamResponse:
    size = int(request.query["size"])
    answer = web.StreamResponse()
    answer.enable_chunked_encoding()
    await answer.prepare(request)
    for start in range(0, size, 300):
        await answer.write(b"y" * min(300, size - start))
    await answer.write_eof()
    return answer


MARKS: web.AppKey[list[str]] = web.AppKey("marks", list[str])


async def _marks_seen(request: web.Request) -> web.Response:
    """How many requests the client had marked on the wire when this one was served."""
    body = await request.read()
    return web.json_response({"marks": len(request.app[MARKS]), "bodyBytes": len(body)})


@pytest.fixture
def marks() -> list[str]:
    """What the client's ``ON_WIRE`` callbacks noted, shared with the server."""
    return []


@pytest.fixture
async def base_url(marks: list[str]) -> AsyncIterator[str]:
    app = web.Application(client_max_size=8_000_000)
    app[MARKS] = marks
    app.router.add_route("*", "/marks", _marks_seen)
    app.router.add_get("/fixed", _fixed)
    app.router.add_get("/chunked", _chunked)
    app.router.add_get("/gzipped", _gzipped)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def fetch(url: str) -> Response:
    async with aiohttp.ClientSession() as session:
        return await AiohttpTransport(session).send(Request("GET", url))


@pytest.mark.parametrize("path", ["fixed", "chunked", "gzipped"])
async def test_a_body_within_the_cap_arrives_whole(
    base_url: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "MAX_BODY_BYTES", CAP)
    answer = await fetch(f"{base_url}/{path}?size={CAP}")
    assert answer.status == 200
    assert answer.body == {"fixed": b"x", "chunked": b"y", "gzipped": b"z"}[path] * CAP
    assert (answer.header("Content-Length") is None) == (path == "chunked")


@pytest.mark.parametrize("path", ["fixed", "chunked", "gzipped"])
async def test_a_body_past_the_cap_is_refused(
    base_url: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "MAX_BODY_BYTES", CAP)
    with pytest.raises(TransportError, match=f"answer larger than {CAP} bytes") as caught:
        await fetch(f"{base_url}/{path}?size={CAP + 1}")
    assert caught.value.http_status == 200


@pytest.mark.parametrize(("method", "size"), [("GET", 0), ("POST", 300), ("POST", 4_000_000)])
async def test_a_request_is_marked_once_as_it_goes_on_the_wire(
    base_url: str, marks: list[str], method: str, size: int
) -> None:
    """With the session's ``WireMarkingRequest``, the transport calls the sender's
    ``ON_WIRE`` callback once per request, before the service sees it (so the rate limiter
    counts it from then), for a request without a body, a small one and one larger than a
    socket's buffer."""
    body = b"b" * size
    async with aiohttp.ClientSession(request_class=WireMarkingRequest) as session:
        transport = AiohttpTransport(session)
        for call in range(2):
            marking = ON_WIRE.set(lambda call=call: marks.append(f"{method} {call}"))
            try:
                answer = await transport.send(Request(method, f"{base_url}/marks", body=body))
            finally:
                ON_WIRE.reset(marking)
            assert json.loads(answer.body) == {"marks": call + 1, "bodyBytes": size}
    assert marks == [f"{method} 0", f"{method} 1"]
