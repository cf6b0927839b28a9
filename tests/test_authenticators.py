"""Building authenticators from found credentials, and routing calls by project."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from batchcreate.auth import TokenAuth
from batchcreate.authenticators import (
    ProjectAuthenticators,
    build_authenticator,
    build_project_authenticators,
)
from batchcreate.clock import VirtualClock
from batchcreate.credentials import CredentialKind, FoundCredentials, Secret
from batchcreate.errors import CredentialsError
from batchcreate.iam import IamTokenAuth
from batchcreate.signing import AkSkAuth, verify
from batchcreate.wire import Request, Response, show_job_request

CCE = "https://cce.cn-north-4.myhuaweicloud.com"
SK = "SENTINEL-SK-aa11"
TOKEN = "SENTINEL-TOKEN-bb22"
PASSWORD = "SENTINEL-PASSWORD-cc33"

TOKEN_FOUND = FoundCredentials(CredentialKind.TOKEN, "env", token=Secret(TOKEN))
AKSK_FOUND = FoundCredentials(CredentialKind.AKSK, "env", ak="AKTEST", sk=Secret(SK))
IAM_FOUND = FoundCredentials(
    CredentialKind.IAM_PASSWORD, "manifest", user="alice", password=Secret(PASSWORD), domain="acme"
)


class RecordingIam:
    """Answers every token request with a numbered day-long token, recording requests."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(201, {"X-Subject-Token": f"iam-token-{len(self.requests)}"}, b"{}")


async def test_token_credentials_build_token_auth() -> None:
    """Token credentials give a TokenAuth sending that token."""
    auth = build_authenticator(TOKEN_FOUND, clock=VirtualClock(), environ={})

    signed = await auth.authenticate(show_job_request(CCE, "p", "j"), "p")

    assert isinstance(auth, TokenAuth)
    assert signed.headers["X-Auth-Token"] == TOKEN


async def test_key_pair_signs_on_the_injected_clock() -> None:
    """AK/SK credentials give an AkSkAuth whose X-Sdk-Date follows the run's clock."""
    clock = VirtualClock(epoch=datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    auth = build_authenticator(AKSK_FOUND, clock=clock, environ={})

    signed = await auth.authenticate(show_job_request(CCE, "p", "j"), "p")

    assert isinstance(auth, AkSkAuth)
    assert signed.headers["X-Sdk-Date"] == "20240101T000000Z"
    assert verify(signed, {"AKTEST": SK}, now=datetime(2024, 1, 1, tzinfo=UTC)) is None


async def test_iam_credentials_use_the_region_endpoint_and_report_tokens() -> None:
    """IAM credentials reach the region's IAM, and each new token is handed to on_secret."""
    iam = RecordingIam()
    learned: list[str] = []
    auth = build_authenticator(
        IAM_FOUND,
        clock=VirtualClock(),
        transport=iam,
        region="cn-north-4",
        environ={},
        on_secret=learned.append,
    )

    signed = await auth.authenticate(show_job_request(CCE, "p", "j"), "p")

    assert isinstance(auth, IamTokenAuth)
    assert iam.requests[0].url == "https://iam.cn-north-4.myhuaweicloud.com/v3/auth/tokens"
    assert json.loads(iam.requests[0].body)["auth"]["scope"] == {"project": {"id": "p"}}
    assert signed.headers["X-Auth-Token"] == "iam-token-1"
    assert learned == [PASSWORD, "iam-token-1"]


def test_iam_credentials_without_a_transport_are_refused() -> None:
    """IAM password credentials cannot be built without a way to reach IAM."""
    with pytest.raises(ValueError, match="transport"):
        build_authenticator(IAM_FOUND, clock=VirtualClock(), environ={})


def test_on_secret_learns_every_resolved_secret() -> None:
    """Every secret in the found credentials is handed to on_secret when the auth is built."""
    learned: list[str] = []
    found = FoundCredentials(
        CredentialKind.TEMPORARY_AKSK, "x", ak="A", sk=Secret(SK), security_token=Secret(TOKEN)
    )

    build_authenticator(found, clock=VirtualClock(), environ={}, on_secret=learned.append)

    assert learned == [SK, TOKEN]


async def test_projects_are_routed_to_their_own_credentials() -> None:
    """Each project's calls carry its own credentials; an unknown project is refused."""
    routes = build_project_authenticators(
        {"p-token": TOKEN_FOUND, "p-aksk": AKSK_FOUND},
        {},
        clock=VirtualClock(),
        transport=None,
        environ={},
    )

    by_token = await routes.authenticate(show_job_request(CCE, "p-token", "j"), "p-token")
    by_key = await routes.authenticate(show_job_request(CCE, "p-aksk", "j"), "p-aksk")

    assert by_token.headers["X-Auth-Token"] == TOKEN
    assert "Authorization" not in by_token.headers
    assert by_key.headers["Authorization"].startswith("SDK-HMAC-SHA256 Access=AKTEST")
    assert routes.describe() == "mixed (ak/sk, token)"
    with pytest.raises(CredentialsError, match="project p-other"):
        await routes.authenticate(show_job_request(CCE, "p-other", "j"), "p-other")


async def test_projects_sharing_iam_credentials_share_one_authenticator() -> None:
    """Two projects of one region with the same IAM user share one IamTokenAuth."""
    clock = VirtualClock()
    routes = build_project_authenticators(
        {"p1": IAM_FOUND, "p2": IAM_FOUND, "p3": IAM_FOUND},
        {"p1": "cn-north-4", "p2": "cn-north-4", "p3": "ap-southeast-1"},
        clock=clock,
        transport=RecordingIam(),
        environ={},
    )

    assert routes.for_project("p1") is routes.for_project("p2")
    assert routes.for_project("p1") is not routes.for_project("p3")
    assert routes.describe() == "iam password"


async def test_refresh_is_delegated_to_the_project_authenticator() -> None:
    """refresh() asks the project's own authenticator: IAM can renew, a key pair cannot."""
    iam = RecordingIam()
    clock = VirtualClock()
    routes = build_project_authenticators(
        {"p-iam": IAM_FOUND, "p-aksk": AKSK_FOUND},
        {"p-iam": "cn-north-4"},
        clock=clock,
        transport=iam,
        environ={},
    )
    await routes.authenticate(show_job_request(CCE, "p-iam", "j"), "p-iam")
    await clock.advance(3600.0)

    assert await routes.refresh("p-iam") is True
    assert await routes.refresh("p-aksk") is False
    assert len(iam.requests) == 2


def test_router_repr_shows_no_secret() -> None:
    """The router's repr lists its authenticators, each with secrets masked."""
    routes = ProjectAuthenticators(
        {"a": TokenAuth(TOKEN), "b": AkSkAuth("AKTEST", SK, security_token=TOKEN)}
    )

    assert TOKEN not in repr(routes)
    assert SK not in repr(routes)
    assert "TokenAuth(token='***')" in repr(routes)
