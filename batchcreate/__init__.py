"""batchcreate: create fleets of Huawei Cloud CCE clusters from one manifest.

The public surface is re-exported here; everything else is an implementation detail.
"""

from batchcreate.app import RunResult, SimulateOptions, execute, run_batch
from batchcreate.auth import Authenticator, NoAuth, TokenAuth
from batchcreate.client import CceClient
from batchcreate.clock import Clock, SystemClock, VirtualClock
from batchcreate.errors import (
    ApiError,
    AuthenticationError,
    BatchcreateError,
    ConflictError,
    CredentialsError,
    ManifestError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    RequestRejectedError,
    ServerError,
    ThrottledError,
    TransportError,
)
from batchcreate.manifest import build_plan, load_manifest
from batchcreate.onwire import mark_on_wire
from batchcreate.plan import BatchPlan, ClusterPlan, ProjectPlan
from batchcreate.polling import CompletionModel, next_list_delay
from batchcreate.ratelimit import AdaptiveLimiter, RateLimiter
from batchcreate.report import Outcome, Report
from batchcreate.runner import Runner
from batchcreate.settings import PollSettings, RetrySettings, Settings
from batchcreate.simulator.fake_cce import Behaviour, FakeCce, SimulatorConfig
from batchcreate.simulator.memory import InMemoryTransport
from batchcreate.simulator.server import start_simulator
from batchcreate.transport import AiohttpTransport, EnvProxies, Transport, WireMarkingRequest
from batchcreate.watch import ProjectWatch

__version__ = "0.1.0"

__all__ = [
    "AdaptiveLimiter",
    "AiohttpTransport",
    "ApiError",
    "AuthenticationError",
    "Authenticator",
    "BatchPlan",
    "BatchcreateError",
    "Behaviour",
    "CceClient",
    "Clock",
    "ClusterPlan",
    "CompletionModel",
    "ConflictError",
    "CredentialsError",
    "EnvProxies",
    "FakeCce",
    "InMemoryTransport",
    "ManifestError",
    "NoAuth",
    "NotFoundError",
    "Outcome",
    "PermissionDeniedError",
    "PollSettings",
    "Problem",
    "ProjectPlan",
    "ProjectWatch",
    "RateLimiter",
    "Report",
    "RequestRejectedError",
    "RetrySettings",
    "RunResult",
    "Runner",
    "ServerError",
    "Settings",
    "SimulateOptions",
    "SimulatorConfig",
    "SystemClock",
    "ThrottledError",
    "TokenAuth",
    "Transport",
    "TransportError",
    "VirtualClock",
    "WireMarkingRequest",
    "__version__",
    "build_plan",
    "execute",
    "load_manifest",
    "mark_on_wire",
    "next_list_delay",
    "run_batch",
    "start_simulator",
]
