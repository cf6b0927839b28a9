"""From found credentials to the one ``Authenticator`` a client sends every call through.

A fleet can span projects and accounts, so each project may authenticate differently;
``ProjectAuthenticators`` routes each call by its project. Projects that share a source and
an IAM endpoint share one authenticator, so an IAM token fetch is never duplicated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from batchcreate.auth import Authenticator, TokenAuth
from batchcreate.clock import Clock
from batchcreate.credentials import CredentialKind, FoundCredentials, resolve_credentials
from batchcreate.errors import CredentialsError
from batchcreate.iam import IamTokenAuth, iam_endpoint
from batchcreate.plan import BatchPlan
from batchcreate.signing import AkSkAuth
from batchcreate.transport import Transport
from batchcreate.wire import Request


def build_authenticator(
    found: FoundCredentials,
    *,
    clock: Clock,
    transport: Transport | None = None,
    region: str | None = None,
    environ: Mapping[str, str],
    on_secret: Callable[[str], None] | None = None,
) -> Authenticator:
    """The authenticator for ``found``; IAM passwords need the ``transport`` to reach IAM.

    ``on_secret`` learns every secret involved, including tokens fetched later, so that a
    redactor can keep them out of logs.
    """
    if on_secret is not None:
        for secret in found.secrets():
            on_secret(secret)
    if found.kind is CredentialKind.TOKEN and found.token is not None:
        return TokenAuth(found.token.reveal())
    if found.ak and found.sk is not None:
        return AkSkAuth(
            found.ak,
            found.sk.reveal(),
            security_token=found.security_token.reveal() if found.security_token else None,
            wall_clock=clock.time,
        )
    if found.user and found.domain and found.password is not None:
        if transport is None:
            raise ValueError("IAM password credentials need a transport to reach IAM")
        return IamTokenAuth(
            transport,
            clock,
            user=found.user,
            password=found.password.reveal(),
            domain=found.domain,
            endpoint=iam_endpoint(region, override=found.iam_endpoint, environ=environ),
            scope=found.iam_scope,
            region=region,
            on_token=on_secret,
        )
    raise ValueError(f"incomplete credentials from {found.source}")


class ProjectAuthenticators:
    """Routes each call to its project's authenticator."""

    def __init__(self, by_project: Mapping[str, Authenticator]) -> None:
        self._by_project = dict(by_project)

    def for_project(self, project_id: str) -> Authenticator:
        try:
            return self._by_project[project_id]
        except KeyError:
            raise CredentialsError(f"no credentials were set up for project {project_id}") from None

    async def authenticate(self, request: Request, project_id: str) -> Request:
        return await self.for_project(project_id).authenticate(request, project_id)

    def describe(self) -> str:
        kinds = sorted({auth.describe() for auth in self._by_project.values()})
        return kinds[0] if len(kinds) == 1 else f"mixed ({', '.join(kinds)})"

    async def refresh(self, project_id: str) -> bool:
        return await self.for_project(project_id).refresh(project_id)

    def __repr__(self) -> str:
        return f"ProjectAuthenticators({self._by_project!r})"


def build_project_authenticators(
    found_by_project: Mapping[str, FoundCredentials],
    regions: Mapping[str, str | None],
    *,
    clock: Clock,
    transport: Transport | None,
    environ: Mapping[str, str],
    on_secret: Callable[[str], None] | None = None,
) -> ProjectAuthenticators:
    """One router over every project, sharing an authenticator between identical sources."""
    shared: dict[tuple[FoundCredentials, str | None], Authenticator] = {}
    by_project: dict[str, Authenticator] = {}
    for project_id, found in found_by_project.items():
        region = regions.get(project_id)
        key = (found, region if found.kind is CredentialKind.IAM_PASSWORD else None)
        if key not in shared:
            shared[key] = build_authenticator(
                found,
                clock=clock,
                transport=transport,
                region=region,
                environ=environ,
                on_secret=on_secret,
            )
        by_project[project_id] = shared[key]
    return ProjectAuthenticators(by_project)


def resolve_plan_credentials(
    plan: BatchPlan, *, environ: Mapping[str, str], home: Path
) -> tuple[dict[str, FoundCredentials], list[str]]:
    """Each project's credentials and every warning, before anything is sent.

    ``CredentialsError`` names the sources tried for the first project that has none.
    """
    found: dict[str, FoundCredentials] = {}
    warnings: list[str] = []
    for project in plan.projects:
        resolution = resolve_credentials(
            project.credentials,
            environ=environ,
            home=home,
            base_dir=plan.source_dir,
            project_id=project.id,
        )
        found[project.id] = resolution.found
        warnings.extend(w for w in resolution.warnings if w not in warnings)
    return found, warnings
