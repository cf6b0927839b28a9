"""``batchcreate simulate``: serve the fake CCE until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from batchcreate.clock import SystemClock
from batchcreate.simulator.fake_cce import FakeCce, SimulatorConfig
from batchcreate.simulator.faults import FaultConfig, format_fault_spec
from batchcreate.simulator.gatekeeper import AuthConfig
from batchcreate.simulator.server import start_simulator


async def _serve(args: argparse.Namespace) -> None:
    auth = AuthConfig(
        token=args.token,
        access_keys={args.ak: args.sk} if args.ak else {},
        security_tokens={args.ak: args.security_token} if args.ak and args.security_token else {},
        iam_users={args.iam_user: args.iam_password} if args.iam_user else {},
        token_lifetime=args.token_lifetime,
    )
    config = SimulatorConfig(
        job_duration=args.job_duration,
        fail_rate=args.fail_rate,
        seed=args.seed,
        auth=auth,
        quota=args.quota,
        faults=args.faults or FaultConfig(),
    )
    cce = FakeCce(config, clock=SystemClock())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with await start_simulator(cce, args.host, args.port) as sim:
        print(f"simulator listening on {sim.url}", flush=True)
        print(
            f"  jobs take {args.job_duration:g}s, fail rate {args.fail_rate:g}, "
            f"credentials {'checked' if auth.enabled else 'not checked'}, "
            f"faults: {format_fault_spec(config.faults) or 'none'}",
            flush=True,
        )
        await stop.wait()
    print("simulator stopped", file=sys.stderr)


def serve(args: argparse.Namespace) -> int:
    if bool(args.ak) != bool(args.sk) or bool(args.iam_user) != bool(args.iam_password):
        print("error: --ak needs --sk, and --iam-user needs --iam-password", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0
