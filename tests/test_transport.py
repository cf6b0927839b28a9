"""The aiohttp transport over loopback: bodies read whole, with or without an announced
length or compressed, and refused past the size cap every way; requests marked as they go
on the wire."""

from __future__ import annotations

import gzip
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from batchcreate import transport as transport_module
from batchcreate.app import TlsOptions
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


#: A self-signed CA certificate (no key: only trusted, never used to sign), for ``--ca-bundle``.
TEST_CA = """\
-----BEGIN CERTIFICATE-----
MIIDHzCCAgegAwIBAgIUMiJC2KDQtZnvz+d2JFzT4XtPOw0wDQYJKoZIhvcNAQEL
BQAwHjEcMBoGA1UEAwwTYmF0Y2hjcmVhdGUgdGVzdCBDQTAgFw0yNjExMjkwNTEz
NTdaGA8yMTI2MTEwNTA1MTM1N1owHjEcMBoGA1UEAwwTYmF0Y2hjcmVhdGUgdGVz
dCBDQTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBALTKwXs6TIdw7duc
l3ZUho5Y/hprHxspBmzJIxagQ7o1rekAFIsIYiI0o0QEepp8+gy3RJGLLlDcl8oC
g+vLD6BnTJswjh9k9dXBgqTBiyNiYi6os9qRLp5VV7kqiipxZYpEUsm7JsOswOpS
wb4L8iBdNKdVOCjiseAN00YSjHtP03kQp/VU+BXI5FoNO9dMUTw8q3AAUKyY4Xo6
w2rA4QlOQ0fuqFsH0htvU7n0eO9g8dbhPM6ka9VOLMa5Y+Pm1nK3WbqJU80ahZVX
U/kw30I9hCAR9eLIkLTOPRfRGiCzxZRIFDStAVb1HRt1XCBiBxMsDbWgN0BERJ+Y
eJyxpz8CAwEAAaNTMFEwHQYDVR0OBBYEFHT8EOiXGPQ4krXzLwdabrFnyTDqMB8G
A1UdIwQYMBaAFHT8EOiXGPQ4krXzLwdabrFnyTDqMA8GA1UdEwEB/wQFMAMBAf8w
DQYJKoZIhvcNAQELBQADggEBAC+lwOYshV8aaILLTwMTGFz9IWx+VUGPMBnCEZKe
/3Hf2E8vqtC7prcqRj3vuFmDD4DHB/P/Gzb00xtQZwWumh3torM1t0dd8Xd/+DWI
/vHTpQo9O3QlVxUD4oXk7aM1qDJuw8xrvuphwxsHUm6dTB4wKAZG1rddB+Oq0upP
P56ofTj4KF2G4niJeAw4imADZ/SsBor3hMTFzKrrfPZnmt7NxfQnKfrZYnlQWpt5
KFqURCSc9YBmf5O6ROLejzY86i6x7CqfCq5v540MMMU/X1Wm8mwVo4Td3XKTRJQC
aMOxe3Lt2W55EEXYcc2ubohAbZnM5ZGj/08iRn7t/dPLoJk=
-----END CERTIFICATE-----
"""


def test_tls_options_give_aiohttp_its_own_context_unless_a_bundle_is_added(
    tmp_path: Path,
) -> None:
    """By default the connector verifies with aiohttp's own context (the system's CAs,
    built as aiohttp is imported: no second one per run); ``--insecure`` skips
    verification; ``--ca-bundle`` gives a verifying context that trusts the bundle's CAs
    besides the system's; a file that is not a bundle is refused."""
    assert TlsOptions().ssl_setting() is True
    assert TlsOptions(insecure=True).ssl_setting() is False
    bundle = tmp_path / "ca.pem"
    bundle.write_text(TEST_CA, encoding="ascii")
    context = TlsOptions(ca_bundle=bundle).ssl_setting()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    subjects = [dict(part[0] for part in ca["subject"]) for ca in context.get_ca_certs()]
    assert {"commonName": "batchcreate test CA"} in subjects
    system = ssl.create_default_context().cert_store_stats()["x509_ca"]
    assert context.cert_store_stats()["x509_ca"] == system + 1
    (tmp_path / "not.pem").write_text("not a certificate", encoding="ascii")
    with pytest.raises(ssl.SSLError):
        TlsOptions(ca_bundle=tmp_path / "not.pem").ssl_setting()
