"""IAM password tokens: the request, the answer, and the caching authenticator in virtual time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from batchcreate.clock import VirtualClock
from batchcreate.errors import AuthenticationError, ServerError, TransportError
from batchcreate.iam import (
    DEFAULT_TOKEN_LIFETIME,
    IamToken,
    IamTokenAuth,
    iam_endpoint,
    parse_token_response,
    token_request,
)
from batchcreate.wire import Request, Response, show_job_request

IAM = "https://iam.cn-north-4.myhuaweicloud.com"
CCE = "https://cce.cn-north-4.myhuaweicloud.com"
PASSWORD = "SENTINEL-PASSWORD-7f3a"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _token_answer(token: str, issued: float, lifetime: float) -> Response:
    body = {"token": {"issued_at": _iso(issued), "expires_at": _iso(issued + lifetime)}}
    return Response(201, {"X-Subject-Token": token}, json.dumps(body).encode())


class FakeIam:
    """An in-memory IAM: issues numbered tokens after a virtual latency, or scripted answers."""

    def __init__(self, clock: VirtualClock, *, lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.requests: list[Request] = []
        self.script: list[Response] = []

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        number = len(self.requests)
        await self.clock.sleep(0.5)
        if self.script:
            return self.script.pop(0)
        return _token_answer(f"token-{number}", self.clock.time(), self.lifetime)


def _auth(iam: FakeIam, **kw: object) -> IamTokenAuth:
    options: dict[str, object] = {
        "user": "alice",
        "password": PASSWORD,
        "domain": "acme",
        "endpoint": IAM,
    }
    options.update(kw)
    return IamTokenAuth(iam, iam.clock, **options)  # type: ignore[arg-type]


UNAUTHORIZED = Response(
    401,
    {"X-Request-Id": "req-9"},
    b'{"error": {"code": 401, "title": "Unauthorized", '
    b'"message": "The username or password is wrong."}}',
)


# ---- the sans-I/O half -------------------------------------------------------------------


def test_token_request_body_is_exactly_the_documented_project_scope() -> None:
    """The request posts the facts page's password body, scoped to the project by id."""
    request = token_request(IAM + "/", user="alice", password="pw", domain="acme", project_id="p1")

    assert (request.method, request.url, request.kind) == (
        "POST",
        f"{IAM}/v3/auth/tokens",
        "iam.token",
    )
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "alice", "password": "pw", "domain": {"name": "acme"}}
                },
            },
            "scope": {"project": {"id": "p1"}},
        }
    }


def test_token_request_can_scope_by_region_name() -> None:
    """A region-scoped request names the region as the project."""
    request = token_request(IAM, user="u", password="p", domain="d", region="cn-north-4")

    assert json.loads(request.body)["auth"]["scope"] == {"project": {"name": "cn-north-4"}}


@pytest.mark.parametrize("scope", [{}, {"project_id": "p", "region": "cn-north-4"}])
def test_token_request_needs_exactly_one_scope(scope: dict[str, str]) -> None:
    """Neither or both of a project id and a region is refused."""
    with pytest.raises(ValueError, match="exactly one"):
        token_request(IAM, user="u", password="p", domain="d", **scope)


def test_token_answer_gives_the_header_token_and_iam_clock_lifetime() -> None:
    """The token is read from X-Subject-Token; its lifetime is expires_at minus issued_at."""
    answer = _token_answer("MIItoken", issued=1_000_000.0, lifetime=86_400.0)

    token = parse_token_response(answer, received_at=5.0)  # local clock far off: ignored

    assert token == IamToken("MIItoken", 86_400.0)
    assert "MIItoken" not in repr(token)


def test_token_answer_without_issued_at_counts_from_receipt() -> None:
    """Without issued_at, the lifetime runs from the local receipt time to expires_at."""
    body = json.dumps({"token": {"expires_at": _iso(10_000.0)}}).encode()

    token = parse_token_response(Response(201, {"x-subject-token": "t"}, body), received_at=4_000.0)

    assert token.lifetime == 6_000.0


def test_token_answer_without_expiry_lives_a_day() -> None:
    """A body with no expires_at (or no JSON at all) is taken to live the documented 24 h."""
    token = parse_token_response(Response(201, {"X-Subject-Token": "t"}, b"<html>"), received_at=0)

    assert token.lifetime == DEFAULT_TOKEN_LIFETIME


def test_token_answer_without_the_header_is_a_transport_error() -> None:
    """A success without X-Subject-Token is no usable answer."""
    with pytest.raises(TransportError, match="without an X-Subject-Token header"):
        parse_token_response(Response(201, {}, b"{}"), received_at=0)


def test_token_answer_already_expired_is_refused() -> None:
    """A token whose expiry precedes its issue is not used."""
    with pytest.raises(TransportError, match="already expired"):
        parse_token_response(_token_answer("t", issued=100.0, lifetime=-1.0), received_at=0)


def test_iam_401_maps_to_authentication_error() -> None:
    """IAM's 401 body becomes an AuthenticationError carrying its message and request id."""
    with pytest.raises(AuthenticationError) as caught:
        parse_token_response(UNAUTHORIZED, received_at=0)

    assert caught.value.message == "The username or password is wrong."
    assert caught.value.request_id == "req-9"


@pytest.mark.parametrize(
    ("region", "override", "environ", "expected"),
    [
        ("cn-north-4", None, {}, "https://iam.cn-north-4.myhuaweicloud.com"),
        (None, None, {}, "https://iam.myhuaweicloud.com"),
        ("cn-north-4", None, {"HUAWEICLOUD_SDK_IAM_ENDPOINT": "https://iam.x/"}, "https://iam.x"),
        (
            "cn-north-4",
            "https://iam.mine",
            {"HUAWEICLOUD_SDK_IAM_ENDPOINT": "x"},
            "https://iam.mine",
        ),
    ],
)
def test_iam_endpoint_prefers_override_then_environment_then_region(
    region: str | None, override: str | None, environ: dict[str, str], expected: str
) -> None:
    """The endpoint comes from the override, else the environment, else the region, else global."""
    assert iam_endpoint(region, override=override, environ=environ) == expected


# ---- IamTokenAuth ------------------------------------------------------------------------


async def test_fifty_concurrent_callers_share_one_fetch() -> None:
    """Fifty calls started together wait on one token request and all send its token."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    auth = _auth(iam)

    async def call() -> Request:
        return await auth.authenticate(show_job_request(CCE, "p1", "j"), "p1")

    signed = await clock.run(asyncio.gather(*(call() for _ in range(50))))

    assert len(iam.requests) == 1
    assert auth.fetches == 1
    assert {r.headers["X-Auth-Token"] for r in signed} == {"token-1"}


async def test_token_is_reused_until_the_margin_then_refreshed() -> None:
    """A 1 h token is reused until 15 min before expiry, then fetched anew exactly once."""
    clock = VirtualClock()
    iam = FakeIam(clock, lifetime=3600.0)
    auth = _auth(iam)
    assert await clock.run(auth.token("p1")) == "token-1"

    await clock.advance(2699.0 - clock.monotonic())
    assert await clock.run(auth.token("p1")) == "token-1"
    await clock.advance(2.0)
    tokens = await clock.run(asyncio.gather(auth.token("p1"), auth.token("p1")))

    assert tokens == ["token-2", "token-2"]
    assert len(iam.requests) == 2


async def test_short_lived_token_refreshes_at_half_its_life() -> None:
    """A token living less than twice the margin is refreshed halfway through its life."""
    clock = VirtualClock()
    iam = FakeIam(clock, lifetime=60.0)
    auth = _auth(iam)
    await clock.run(auth.token("p1"))

    await clock.advance(29.0)
    assert await clock.run(auth.token("p1")) == "token-1"
    await clock.advance(1.5)
    assert await clock.run(auth.token("p1")) == "token-2"


async def test_invalidate_forces_exactly_one_refetch() -> None:
    """After invalidate the next calls fetch one new token; a stale invalidate is ignored."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    auth = _auth(iam)
    await clock.run(auth.token("p1"))

    auth.invalidate("p1", token="token-1")
    fresh = await clock.run(asyncio.gather(*(auth.token("p1") for _ in range(10))))
    auth.invalidate("p1", token="token-1")  # a late 401 for the old token
    again = await clock.run(auth.token("p1"))

    assert set(fresh) == {"token-2"}
    assert again == "token-2"
    assert len(iam.requests) == 2


async def test_each_project_gets_its_own_token() -> None:
    """Project-scoped tokens are cached per project: two projects, two fetches, two scopes."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    auth = _auth(iam)

    tokens = await clock.run(asyncio.gather(auth.token("p1"), auth.token("p2"), auth.token("p1")))

    assert tokens[0] == tokens[2] != tokens[1]
    scopes = [json.loads(r.body)["auth"]["scope"]["project"]["id"] for r in iam.requests]
    assert sorted(scopes) == ["p1", "p2"]


async def test_region_scope_shares_one_token_across_projects() -> None:
    """A region-scoped authenticator fetches one token for every project."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    auth = _auth(iam, scope="region", region="cn-north-4")

    tokens = await clock.run(asyncio.gather(auth.token("p1"), auth.token("p2")))

    assert tokens == ["token-1", "token-1"]
    assert json.loads(iam.requests[0].body)["auth"]["scope"] == {"project": {"name": "cn-north-4"}}


async def test_rejected_password_raises_and_is_never_retried() -> None:
    """A 401 from IAM raises AuthenticationError for every waiter and is not asked again."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    iam.script = [UNAUTHORIZED]
    auth = _auth(iam)

    results = await clock.run(
        asyncio.gather(*(auth.token("p1") for _ in range(5)), return_exceptions=True)
    )
    with pytest.raises(AuthenticationError) as later:
        await clock.run(auth.token("p1"))

    assert all(isinstance(r, AuthenticationError) for r in results)
    assert len(iam.requests) == 1
    assert str(later.value) == (
        "HTTP 401: IAM refused a token for user 'alice' in domain 'acme': "
        "The username or password is wrong. (request req-9)"
    )


async def test_password_never_appears_in_repr_or_errors() -> None:
    """Neither repr nor any error text of IamTokenAuth contains the password."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    iam.script = [UNAUTHORIZED]
    auth = _auth(iam)

    with pytest.raises(AuthenticationError) as caught:
        await clock.run(auth.token("p1"))

    assert PASSWORD in iam.requests[0].body.decode()  # it was sent, to IAM only
    texts = [repr(auth), str(auth), str(caught.value), repr(caught.value), auth.describe()]
    assert all(PASSWORD not in text for text in texts)
    assert "password='***'" in repr(auth)


async def test_transient_failure_without_a_token_raises_and_is_retried_next_time() -> None:
    """A 5xx from IAM with nothing cached fails the call; the next call asks again."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    iam.script = [Response(503, {}, b"busy")]
    auth = _auth(iam)

    with pytest.raises(ServerError):
        await clock.run(auth.token("p1"))
    token = await clock.run(auth.token("p1"))

    assert token == "token-2"
    assert len(iam.requests) == 2


async def test_failed_refresh_keeps_using_the_still_valid_token() -> None:
    """When the early refresh fails transiently the old token serves until it expires."""
    clock = VirtualClock()
    iam = FakeIam(clock, lifetime=3600.0)
    auth = _auth(iam)
    await clock.run(auth.token("p1"))
    await clock.advance(3000.0)
    iam.script = [Response(503, {}, b"busy")]

    during_outage = await clock.run(auth.token("p1"))
    after = await clock.run(auth.token("p1"))

    assert during_outage == "token-1"
    assert after == "token-3"
    assert len(iam.requests) == 3


async def test_cancelled_caller_does_not_cancel_the_shared_fetch() -> None:
    """Cancelling the caller that started a fetch leaves it running for the others."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    auth = _auth(iam)
    first = asyncio.ensure_future(auth.token("p1"))
    await asyncio.sleep(0)
    first.cancel()

    token = await clock.run(auth.token("p1"))

    assert first.cancelled()
    assert token == "token-1"
    assert len(iam.requests) == 1


async def test_new_tokens_are_reported_to_on_token() -> None:
    """Every fetched token is handed to on_token, so a redactor can learn it."""
    clock = VirtualClock()
    seen: list[str] = []
    auth = _auth(FakeIam(clock), on_token=seen.append)

    await clock.run(auth.token("p1"))

    assert seen == ["token-1"]


@pytest.mark.parametrize(
    "changes", [{"password": ""}, {"user": ""}, {"domain": ""}, {"scope": "region"}]
)
def test_incomplete_settings_are_refused(changes: dict[str, str]) -> None:
    """A missing user, password or domain, or a region scope without a region, is refused."""
    with pytest.raises(ValueError, match="needs"):
        _auth(FakeIam(VirtualClock()), **changes)


# ---- refresh after a 401 -----------------------------------------------------------------


async def test_refresh_after_a_401_fetches_one_new_token_for_all() -> None:
    """Ten calls rejected with the same old token refresh together with one fetch."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    auth = _auth(iam)
    await clock.run(auth.token("p1"))
    await clock.advance(600.0)

    refreshed = await clock.run(asyncio.gather(*(auth.refresh("p1") for _ in range(10))))

    assert refreshed == [True] * 10
    assert await clock.run(auth.token("p1")) == "token-2"
    assert len(iam.requests) == 2


async def test_refresh_right_after_a_fetch_keeps_the_fresh_token() -> None:
    """A 401 arriving just after a new token was fetched was for the old one: no refetch."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    auth = _auth(iam)
    await clock.run(auth.token("p1"))
    await clock.advance(10.0)

    assert await clock.run(auth.refresh("p1")) is True
    assert len(iam.requests) == 1
    await clock.advance(30.0)
    assert await clock.run(auth.refresh("p1")) is True
    assert len(iam.requests) == 2


async def test_refresh_while_iam_is_down_reports_failure() -> None:
    """When IAM cannot give a new token, refresh returns False so the 401 stands."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    auth = _auth(iam)
    await clock.run(auth.token("p1"))
    await clock.advance(600.0)
    iam.script = [Response(502, {}, b"<html>bad gateway</html>")]

    assert await clock.run(auth.refresh("p1")) is False


async def test_refresh_when_iam_now_refuses_the_password_raises() -> None:
    """A password changed mid-run surfaces as IAM's own AuthenticationError."""
    clock = VirtualClock()
    iam = FakeIam(clock)
    auth = _auth(iam)
    await clock.run(auth.token("p1"))
    await clock.advance(600.0)
    iam.script = [UNAUTHORIZED]

    with pytest.raises(AuthenticationError, match="IAM refused a token for user 'alice'"):
        await clock.run(auth.refresh("p1"))
