"""Fault injection: every fault kind in virtual time, the spec parser, and faults over HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import aiohttp
import pytest

from batchcreate.clock import VirtualClock
from batchcreate.errors import ServerError, ThrottledError, TransportError
from batchcreate.simulator.fake_cce import (
    Behaviour,
    FakeCce,
    Served,
    SimAnswer,
    SimulatorConfig,
)
from batchcreate.simulator.faults import (
    Count,
    FaultConfig,
    format_fault_spec,
    parse_fault_spec,
)
from batchcreate.simulator.memory import InMemoryTransport
from batchcreate.simulator.server import LEDGER_PATH, RunningSimulator
from batchcreate.transport import AiohttpTransport
from batchcreate.wire import (
    Response,
    create_cluster_request,
    error_from_response,
    list_clusters_request,
    show_job_request,
)
from tests.test_simulator import BODY

CLUSTERS = "/api/v3/projects/p1/clusters"
ENDPOINT = "http://cce.test"


def fake(faults: FaultConfig, *, seed: int = 1, **config: Any) -> tuple[FakeCce, VirtualClock]:
    clock = VirtualClock()
    config.setdefault("duration_jitter", 0.0)
    config.setdefault("job_duration", 100.0)
    return FakeCce(SimulatorConfig(seed=seed, faults=faults, **config), clock=clock), clock


def body(name: str = "mycluster") -> bytes:
    return json.dumps({**BODY, "metadata": {"name": name}}).encode()


def create(cce: FakeCce, name: str = "mycluster") -> Served:
    return cce.serve("POST", CLUSTERS, {}, {}, body(name))


def get(cce: FakeCce, path: str = CLUSTERS) -> Served:
    return cce.serve("GET", path, {}, {}, b"")


def as_response(answer: SimAnswer) -> Response:
    """The fake's answer as a client transport would hand it on."""
    return Response(answer.status, answer.headers, answer.body)


def fate(served: Served) -> str:
    """A short name for what became of one call."""
    if served.answer is None:
        return "reset"
    if served.reset_after:
        return "lost"
    if served.delay:
        return "slow"
    return str(served.answer.status)


def payload(served: Served) -> Any:
    assert served.answer is not None
    return json.loads(served.answer.body)


# ---- per-call faults in virtual time ---------------------------------------------------------


def test_a_default_fake_serves_exactly_what_handle_answers() -> None:
    """Without faults, serve gives handle's answers, unflagged, with the same random draws."""
    plain, _ = fake(FaultConfig(), seed=4, fail_rate=0.5)
    served, _ = fake(FaultConfig(), seed=4, fail_rate=0.5)
    for i in range(20):
        expected = plain.handle("POST", CLUSTERS, {}, {}, body(f"c-{i:03d}"))
        got = create(served, f"c-{i:03d}")
        assert (got.answer, got.reset_after, got.delay) == (expected, False, 0.0)
    assert plain.ledger()["clusters"] == served.ledger()["clusters"]


@pytest.mark.parametrize(
    ("kind", "outcome"),
    [("throttle", "429"), ("errors", "5xx"), ("resets", "reset"), ("slow", "slow")],
)
def test_each_call_fault_strikes_about_its_rate(kind: str, outcome: str) -> None:
    """Over 4,000 calls a 10% fault strikes between 8.5% and 11.5% of them, as the ledger says."""
    cce, _ = fake(parse_fault_spec(f"{kind}=0.1"))
    fates = [fate(get(cce)) for _ in range(4000)]
    hits = sum(f == outcome or (outcome == "5xx" and f.startswith("5")) for f in fates)
    assert 340 <= hits <= 460
    assert cce.ledger()["faults"][kind] == hits
    assert cce.ledger()["requests"] == {"list": 4000}


def test_the_same_seed_gives_the_same_faults_and_another_seed_does_not() -> None:
    """Faults are reproducible given the seed and the order of requests."""
    spec = FaultConfig(throttle=0.1, errors=0.1, resets=0.1, slow=0.1, lost_creates=0.3)

    def fates(seed: int) -> list[str]:
        cce, _ = fake(spec, seed=seed)
        creates = [fate(create(cce, f"c-{i:03d}")) for i in range(60)]
        return creates + [fate(get(cce, "/api/v3/projects/p1/jobs/none")) for _ in range(200)]

    assert fates(5) == fates(5)
    assert fates(5) != fates(6)


def test_call_fault_rates_share_one_draw_so_a_total_of_one_faults_every_call_once() -> None:
    """Rates summing to 1 leave no healthy call, and no call is counted under two faults."""
    cce, _ = fake(FaultConfig(throttle=0.25, errors=0.25, resets=0.25, slow=0.25))
    fates = [fate(get(cce)) for _ in range(400)]
    assert "200" not in fates
    assert sum(cce.ledger()["faults"].values()) == 400


def test_a_count_faults_exactly_the_first_calls() -> None:
    """``Count(3)`` resets the first three calls and no other."""
    cce, _ = fake(FaultConfig(resets=Count(3), throttle=Count(1)))
    fates = [fate(get(cce)) for _ in range(10)]
    assert fates == ["reset", "reset", "reset", "429"] + ["200"] * 6


def test_about_half_the_injected_429s_carry_retry_after_and_all_are_throttling() -> None:
    """Injected 429s alternate with and without Retry-After, in both throttling body styles."""
    cce, _ = fake(FaultConfig(throttle=1.0, retry_after=0.5))
    errors = []
    for _ in range(100):
        answer = get(cce).answer
        assert answer is not None
        errors.append(error_from_response(as_response(answer)))
    assert all(isinstance(e, ThrottledError) for e in errors)
    assert sum(e.retry_after == 0.5 for e in errors) == 50
    assert sum(e.retry_after is None for e in errors) == 50
    assert {e.error_code for e in errors} == {"APIGW.0308", "CCE.01429003"}


def test_server_errors_cycle_500_502_503_and_the_502_is_a_proxy_page() -> None:
    """Injected 5xx answers take turns; the 502 is HTML that still maps to a clean error."""
    cce, _ = fake(FaultConfig(errors=1.0))
    answers = [get(cce).answer for _ in range(3)]
    assert [a.status for a in answers if a] == [500, 502, 503]
    proxy = answers[1]
    assert proxy is not None
    assert proxy.headers["Content-Type"] == "text/html"
    assert proxy.body.startswith(b"<html>")
    error = error_from_response(as_response(proxy))
    assert isinstance(error, ServerError)
    assert "502 Bad Gateway" in error.message


async def test_token_bucket_admits_its_burst_then_exactly_its_rate_per_second() -> None:
    """Past a burst of 4, a bucket of 8/s admits exactly 8 calls in every second, then refills."""
    cce, clock = fake(FaultConfig(server_rate=8, server_burst=4))
    assert [fate(get(cce)) for _ in range(10)] == ["200"] * 4 + ["429"] * 6
    per_second = [0] * 10
    for step in range(640):  # a call every 1/64 s for 10 s
        await clock.advance(1 / 64)
        per_second[step // 64] += fate(get(cce)) == "200"
    assert per_second == [8] * 10
    await clock.advance(60)
    assert [fate(get(cce)) for _ in range(6)] == ["200"] * 4 + ["429"] * 2
    refused = payload(get(cce))
    assert refused == {
        "error_code": "APIGW.0308",
        "error_msg": "The throttling threshold has been reached: "
        "policy user over ratelimit,limit:8,time:1 second",
    }


def test_the_default_burst_is_one_second_of_calls() -> None:
    """Without server_burst the bucket holds one second's worth of server_rate."""
    cce, _ = fake(FaultConfig(server_rate=2.5))
    assert [fate(get(cce)) for _ in range(5)] == ["200"] * 3 + ["429"] * 2
    assert cce.ledger()["faults"]["server_rate"] == 2


async def test_a_lost_create_really_creates_the_cluster() -> None:
    """The create is processed, its answer lost; the cluster is listed and a retry gets 409."""
    cce, clock = fake(FaultConfig(lost_creates=Count(1)))
    transport = InMemoryTransport(cce)
    request = create_cluster_request(ENDPOINT, "p1", {**BODY, "metadata": {"name": "lost-one"}})
    with pytest.raises(TransportError, match="reset"):
        await clock.run(transport.send(request))
    listing = await clock.run(transport.send(list_clusters_request(ENDPOINT, "p1")))
    assert [c["metadata"]["name"] for c in json.loads(listing.body)["items"]] == ["lost-one"]
    again = await clock.run(transport.send(request))
    assert again.status == 409
    ledger = cce.ledger()
    assert ledger["createCalls"] == [
        {"project": "p1", "name": "lost-one", "calls": 2, "created": 1}
    ]
    assert ledger["clusters"][0]["createAnswer"] == "lost"
    assert ledger["faults"]["lost_creates"] == 1


def test_lost_creates_strike_only_creates_that_succeeded() -> None:
    """A refused create (409) is answered even when every successful create loses its answer."""
    cce, _ = fake(FaultConfig(lost_creates=1.0))
    assert fate(create(cce)) == "lost"
    assert fate(create(cce)) == "409"
    assert fate(get(cce)) == "200"


async def test_a_slow_answer_is_processed_at_once_and_times_out_in_memory() -> None:
    """A slow create exists at once; the transport's timeout fires at its own deadline."""
    cce, clock = fake(FaultConfig(slow=1.0, slow_seconds=10.0))
    transport = InMemoryTransport(cce, timeout=3.0)
    request = create_cluster_request(ENDPOINT, "p1", BODY)
    with pytest.raises(TransportError, match="no answer within 3s"):
        await clock.run(transport.send(request))
    assert clock.monotonic() == 3.0
    assert cce.cluster_named("p1", "mycluster") is not None
    patient = InMemoryTransport(cce)
    answer = await clock.run(patient.send(list_clusters_request(ENDPOINT, "p1")))
    assert answer.status == 200
    assert clock.monotonic() == 13.0


async def test_a_reset_is_never_processed_but_the_call_is_counted() -> None:
    """A create reset before processing makes no cluster; the ledger still counts the call."""
    cce, clock = fake(FaultConfig(resets=Count(1)))
    transport = InMemoryTransport(cce)
    with pytest.raises(TransportError, match="connection reset"):
        await clock.run(transport.send(create_cluster_request(ENDPOINT, "p1", BODY)))
    assert cce.clusters == {}
    assert cce.ledger()["createCalls"] == [
        {"project": "p1", "name": "mycluster", "calls": 1, "created": 0}
    ]


def test_handle_stays_free_of_call_faults() -> None:
    """``handle`` answers every call even when serve would reset them all."""
    cce, _ = fake(FaultConfig(resets=1.0))
    assert cce.handle("GET", CLUSTERS, {}, {}, b"").status == 200
    assert fate(get(cce)) == "reset"


def test_faults_spare_unknown_paths_and_methods() -> None:
    """Only the four CCE calls are faulted; the gateway's 404 and 405 come through."""
    cce, _ = fake(FaultConfig(resets=1.0))
    assert fate(get(cce, "/api/v2/whatever")) == "404"
    assert fate(cce.serve("DELETE", CLUSTERS, {}, {}, b"")) == "405"
    assert cce.ledger()["faults"]["resets"] == 0


# ---- job faults ------------------------------------------------------------------------------


async def test_an_expired_job_is_404_while_its_cluster_lives_on() -> None:
    """``job_expiry`` seconds after the job ends its record is gone; list and show still work."""
    cce, clock = fake(FaultConfig(job_expiry=30.0), job_duration=100.0)
    created = payload(create(cce))
    uid, job_id = created["metadata"]["uid"], created["status"]["jobID"]
    await clock.advance(129.9)
    assert payload(get(cce, f"/api/v3/projects/p1/jobs/{job_id}"))["status"]["phase"] == "Success"
    await clock.advance(0.1)
    gone = get(cce, f"/api/v3/projects/p1/jobs/{job_id}")
    assert fate(gone) == "404"
    assert payload(gone)["errorCode"] == "CCE.01404001"
    assert payload(get(cce, f"{CLUSTERS}/{uid}"))["status"]["phase"] == "Available"
    assert [c["metadata"]["uid"] for c in payload(get(cce))["items"]] == [uid]
    ledger = cce.ledger()
    assert ledger["clusters"][0]["jobExpired"] is True
    assert ledger["faults"]["job_expiry"] == 1


async def test_a_stuck_job_never_ends_and_expires_from_its_start() -> None:
    """A stuck job is Running (cluster Creating) forever; its record expires after its start."""
    cce, clock = fake(FaultConfig(stuck=Count(1), job_expiry=600.0), job_duration=10.0)
    stuck_job = payload(create(cce, "stuck-one"))["status"]["jobID"]
    normal_job = payload(create(cce, "fine-one"))["status"]["jobID"]
    await clock.advance(599.0)
    job = payload(get(cce, f"/api/v3/projects/p1/jobs/{stuck_job}"))
    assert job["status"]["phase"] == "Running"
    await clock.advance(1_000_000.0)
    assert fate(get(cce, f"/api/v3/projects/p1/jobs/{stuck_job}")) == "404"
    phases = {c["metadata"]["name"]: c["status"]["phase"] for c in payload(get(cce))["items"]}
    assert phases == {"stuck-one": "Creating", "fine-one": "Available"}
    assert fate(get(cce, f"/api/v3/projects/p1/jobs/{normal_job}")) == "404"
    assert cce.ledger()["faults"]["stuck"] == 1


async def test_a_broken_cluster_follows_a_successful_job_with_a_reason() -> None:
    """A broken job succeeds but leaves its cluster Unavailable, with status.reason and message."""
    cce, clock = fake(FaultConfig(broken=1.0), job_duration=10.0)
    created = payload(create(cce))
    await clock.advance(10.0)
    job = payload(get(cce, f"/api/v3/projects/p1/jobs/{created['status']['jobID']}"))
    cluster = payload(get(cce, f"{CLUSTERS}/{created['metadata']['uid']}"))
    assert job["status"] == {"phase": "Success", "reason": ""}
    assert cluster["status"]["phase"] == "Unavailable"
    assert cluster["status"]["reason"]
    assert cluster["status"]["message"]


def test_broken_strikes_only_jobs_that_would_succeed_and_never_scripted_ones() -> None:
    """Failed jobs and scripted behaviours keep their fate when every job would break."""
    scripted = {"script-one": Behaviour()}
    cce, _ = fake(FaultConfig(broken=1.0, stuck=0.0), fail_rate=1.0, behaviours=scripted)
    create(cce, "doomed-one")
    create(cce, "script-one")
    fates = {
        c.name: (c.job.final_phase if c.job else "", c.final_phase) for c in cce.clusters.values()
    }
    assert fates["doomed-one"][0] == "Failed"
    assert fates["script-one"] == ("Success", "Available")
    assert cce.ledger()["faults"]["broken"] == 0


# ---- the configuration and its command-line form ---------------------------------------------


def test_the_documented_spec_parses_field_by_field() -> None:
    """The --faults example from the issue gives the matching FaultConfig."""
    config = parse_fault_spec(
        "throttle=0.05,errors=0.05,resets=0.02,slow=0.01,slow_seconds=3s,lost_creates=0.02,"
        "job_expiry=30s,stuck=0.01,broken=0.02,server_rate=50,server_burst=10,retry_after=0.5s"
    )
    assert config == FaultConfig(
        throttle=0.05,
        errors=0.05,
        resets=0.02,
        slow=0.01,
        slow_seconds=3.0,
        lost_creates=0.02,
        job_expiry=30.0,
        stuck=0.01,
        broken=0.02,
        server_rate=50.0,
        server_burst=10,
        retry_after=0.5,
    )


def test_percentages_counts_and_spacing_are_understood() -> None:
    """``5%`` is a rate, ``3x`` a count, blanks and a trailing comma are ignored."""
    config = parse_fault_spec(" throttle = 5% , lost-creates=3x, job_expiry=2m,")
    assert config == FaultConfig(throttle=0.05, lost_creates=Count(3), job_expiry=120.0)
    assert parse_fault_spec("") == FaultConfig()


def test_format_fault_spec_round_trips() -> None:
    """The written form names only what differs from the defaults and parses back the same."""
    config = FaultConfig(throttle=0.05, resets=Count(2), slow_seconds=3.0, server_rate=50.0)
    text = format_fault_spec(config)
    assert text == "throttle=0.05,server_rate=50,resets=2x,slow_seconds=3s"
    assert parse_fault_spec(text) == config
    assert format_fault_spec(FaultConfig()) == ""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("throtle=0.1", "unknown fault 'throtle'; did you mean 'throttle'?"),
        ("lost_create=0.1", "did you mean 'lost_creates'?"),
        ("gremlins=1", "unknown fault 'gremlins' (known: throttle, "),
        ("throttle", "'throttle' is not key=value"),
        ("throttle=2", "throttle=2: expected a fraction from 0 to 1 (0.05), a percentage"),
        ("errors=lots", "errors=lots: expected a fraction"),
        ("resets=-1x", "resets=-1x: expected a fraction"),
        ("slow_seconds=soon", "slow_seconds=soon: expected a duration"),
        ("server_rate=fast", "server_rate=fast: expected calls per second"),
        ("server_rate=10,server_burst=2.5", "server_burst=2.5: expected a whole number"),
        ("throttle=0.1,throttle=0.2", "'throttle' is given twice"),
        ("throttle=0.6,errors=0.6", "resets + throttle + errors + slow must not exceed 1"),
        ("server_rate=0", "server_rate must be > 0"),
        ("server_rate=inf", "server_rate must be > 0 and finite"),
        ("stuck=nan", "stuck=nan: expected a fraction"),
        ("server_burst=3", "server_burst needs a server_rate"),
        ("job_expiry=0s", "job_expiry must be > 0"),
    ],
)
def test_bad_specs_are_refused_with_a_teaching_message(spec: str, message: str) -> None:
    """Each mistake in a spec names the key and what would be right."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_fault_spec(spec)


def test_fault_config_checks_itself() -> None:
    """Out-of-range rates and negative counts are refused when built in code too."""
    with pytest.raises(ValueError, match="broken must be a fraction"):
        FaultConfig(broken=1.5)
    with pytest.raises(ValueError, match="whole number"):
        Count(-1)
    with pytest.raises(ValueError, match="slow_seconds must be > 0"):
        FaultConfig(slow_seconds=0.0)


# ---- over real loopback HTTP ----------------------------------------------------------------


@pytest.mark.parametrize("sim_config", [SimulatorConfig(faults=FaultConfig(resets=1.0))])
async def test_a_reset_drops_the_connection_over_http(sim: RunningSimulator) -> None:
    """The client sees the connection close with no answer, and its transport a TransportError."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.post(sim.url + CLUSTERS, json=BODY) as answer:
                await answer.read()
        with pytest.raises(TransportError):
            await AiohttpTransport(session).send(list_clusters_request(sim.url, "p1"))
        async with session.get(sim.url + LEDGER_PATH) as answer:
            ledger = await answer.json()
    # aiohttp itself may resend an idempotent GET once after a disconnect, never a POST.
    assert ledger["requests"]["create"] == 1
    assert ledger["faults"]["resets"] == sum(ledger["requests"].values())
    assert ledger["createCalls"][0]["created"] == 0


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(faults=FaultConfig(slow=1.0, slow_seconds=1.0))]
)
async def test_a_slow_answer_outlasts_the_client_timeout_over_http(sim: RunningSimulator) -> None:
    """The client's timeout fires first, yet the create was made on the server."""
    request = create_cluster_request(sim.url, "p1", BODY)
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        with pytest.raises(TransportError, match=r"no answer within 0\.2s"):
            await AiohttpTransport(session, timeout=0.2).send(request)
        assert time.monotonic() - started < 1.0
    assert sim.cce.cluster_named("p1", "mycluster") is not None


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(faults=FaultConfig(lost_creates=1.0, errors=Count(2)))]
)
async def test_a_proxy_502_and_a_lost_create_over_http(sim: RunningSimulator) -> None:
    """The second error is an HTML 502; a successful create's answer never arrives."""
    async with aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(2):
            async with session.get(sim.url + CLUSTERS) as answer:
                statuses.append((answer.status, answer.content_type, await answer.text()))
        assert [s[:2] for s in statuses] == [(500, "application/json"), (502, "text/html")]
        assert "<h1>502 Bad Gateway</h1>" in statuses[1][2]
        with pytest.raises(TransportError):
            await AiohttpTransport(session).send(create_cluster_request(sim.url, "p1", BODY))
        job = show_job_request(sim.url, "p1", "nope")
        assert (await AiohttpTransport(session).send(job)).status == 404
    assert sim.cce.created == {("p1", "mycluster"): 1}


@pytest.mark.parametrize(
    "sim_config", [SimulatorConfig(faults=FaultConfig(slow=1.0, slow_seconds=30.0))]
)
async def test_stopping_does_not_wait_for_slow_answers(sim: RunningSimulator) -> None:
    """A simulator stops at once even with a 30 s answer pending."""
    async with aiohttp.ClientSession() as session:
        pending = asyncio.ensure_future(
            AiohttpTransport(session).send(list_clusters_request(sim.url, "p1"))
        )
        await asyncio.sleep(0.2)
        assert sim.cce.requests["list"] == 1
        started = time.monotonic()
        await sim.stop()
        assert time.monotonic() - started < 1.0
        with pytest.raises(TransportError):
            await pending
