"""Reading a manifest: parse YAML or JSON, check its shape, merge defaults, validate bodies.

``load_manifest`` returns a ``BatchPlan`` or raises ``ManifestError`` carrying every
problem at once, each located (``projects[1].clusters[3] (team-b-db): spec...``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from batchcreate.credentials import (
    CredentialsEntry,
    ProfileEntry,
    literal_secret_problems,
    parse_credentials_entry,
)
from batchcreate.documents import parse_document, read_manifest_text
from batchcreate.durations import parse_duration
from batchcreate.endpoints import REGION_PATTERN, cce_endpoint, check_endpoint
from batchcreate.errors import ManifestError, Problem
from batchcreate.includes import Source, gather_sources
from batchcreate.plan import BatchPlan, ClusterPlan, ProjectPlan
from batchcreate.problems import problems_from
from batchcreate.settings import PollSettings, RetrySettings, Settings
from batchcreate.templates import collapse_repeats, expand_clusters
from batchcreate.validation import validate_clusters

__all__ = [
    "ManifestDoc",
    "ProjectDoc",
    "build_plan",
    "deep_merge",
    "load_manifest",
    "parse_document",
    "read_manifest_text",
]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Doc(BaseModel):
    """Manifest documents are our own contract: unknown keys are errors, with a suggestion."""

    model_config = ConfigDict(extra="forbid")


class PollDoc(_Doc):
    initial_delay: Duration | None = Field(default=None, alias="initialDelay")
    interval: Duration | None = Field(default=None, gt=0)
    max_interval: Duration | None = Field(default=None, alias="maxInterval", gt=0)
    backoff: float | None = Field(default=None, ge=1.0)


class RetryDoc(_Doc):
    attempts: StrictInt | None = Field(default=None, ge=1)
    base_delay: Duration | None = Field(default=None, alias="baseDelay")
    max_delay: Duration | None = Field(default=None, alias="maxDelay")


class SettingsDoc(_Doc):
    rate_limit: float | None = Field(default=None, alias="rateLimit", gt=0)
    max_in_flight: StrictInt | None = Field(default=None, alias="maxInFlight", ge=1)
    max_in_flight_per_project: StrictInt | None = Field(
        default=None, alias="maxInFlightPerProject", ge=1
    )
    timeout: Duration | None = Field(default=None, gt=0)
    poll: PollDoc | None = None
    retry: RetryDoc | None = None
    request_timeout: Duration | None = Field(default=None, alias="requestTimeout", gt=0)

    def resolve(self) -> Settings:
        """Settings with every key the manifest left out at its default."""
        base = Settings()
        poll = self.poll or PollDoc()
        retry = self.retry or RetryDoc()
        return Settings(
            rate_limit=_pick(self.rate_limit, base.rate_limit),
            max_in_flight=_pick(self.max_in_flight, base.max_in_flight),
            max_in_flight_per_project=_pick(
                self.max_in_flight_per_project, base.max_in_flight_per_project
            ),
            timeout=_pick(self.timeout, base.timeout),
            poll=PollSettings(
                initial_delay=_pick(poll.initial_delay, base.poll.initial_delay),
                interval=_pick(poll.interval, base.poll.interval),
                max_interval=_pick(poll.max_interval, base.poll.max_interval),
                backoff=_pick(poll.backoff, base.poll.backoff),
            ),
            retry=RetrySettings(
                attempts=_pick(retry.attempts, base.retry.attempts),
                base_delay=_pick(retry.base_delay, base.retry.base_delay),
                max_delay=_pick(retry.max_delay, base.retry.max_delay),
            ),
            request_timeout=_pick(self.request_timeout, base.request_timeout),
        )


def _pick(value: T | None, default: T) -> T:
    return default if value is None else value


class ProjectDoc(_Doc):
    id: StrictStr = Field(min_length=1)
    region: StrictStr | None = None
    endpoint: StrictStr | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)
    clusters: list[dict[str, Any]] = Field(default_factory=list)
    #: Where this project's secrets are (checked by ``parse_credentials_entry``).
    credentials: Any = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if "/" in value or value.strip() != value:
            raise ValueError(f"project id {value!r} must not contain '/' or spaces")
        return value

    @field_validator("region")
    @classmethod
    def _check_region(cls, value: str | None) -> str | None:
        if value is not None and not REGION_PATTERN.match(value):
            raise ValueError(f"region {value!r} must look like cn-north-4")
        return value

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        return None if value is None else check_endpoint(value)


class ManifestDoc(_Doc):
    name: StrictStr | None = Field(default=None, min_length=1)
    settings: SettingsDoc = Field(default_factory=SettingsDoc)
    defaults: dict[str, Any] = Field(default_factory=dict)
    #: Files holding more projects: paths or globs, relative to this file (``includes.py``).
    include: list[StrictStr] | StrictStr | None = None
    #: At least one project, here or in the included files.
    projects: list[ProjectDoc] = Field(default_factory=list)


def _doc_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def _known_doc_keys(loc: tuple[str | int, ...]) -> list[str]:
    """The keys a manifest allows at ``loc`` (indices ignored), for spelling suggestions."""
    names = tuple(p for p in loc if isinstance(p, str))
    table: dict[tuple[str, ...], type[BaseModel]] = {
        (): ManifestDoc,
        ("settings",): SettingsDoc,
        ("settings", "poll"): PollDoc,
        ("settings", "retry"): RetryDoc,
        ("projects",): ProjectDoc,
    }
    model = table.get(names)
    return _doc_keys(model) if model else []


def load_manifest(path: str | Path) -> BatchPlan:
    """Read, parse and validate the manifest at ``path``."""
    path = Path(path)
    data = parse_document(read_manifest_text(path), str(path))
    plan = build_plan(data, default_name=path.stem, source=path)
    return dataclasses.replace(plan, source_dir=path.resolve().parent)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        below = out.get(key)
        if isinstance(below, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(below, value)
        else:
            out[key] = value
    return out


def _section(model: type[M], data: Any, prefix: str, problems: list[Problem]) -> M | None:
    """Validate one part of the manifest on its own, so one bad part hides no other's problems."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(
            problems_from(exc, prefix, lambda loc: _known_doc_keys((*_names(prefix), *loc)))
        )
        return None


def _salvage(model: type[M], data: Any) -> M | None:
    """``data`` validated without the values that fail on their own, or None."""
    if not isinstance(data, Mapping):
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        pruned = _deep_copy(data)
        for error in exc.errors():
            _drop(pruned, error["loc"])
        try:
            return model.model_validate(pruned)
        except ValidationError:
            return None


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    return data


def _drop(data: Any, loc: tuple[str | int, ...]) -> None:
    for part in loc[:-1]:
        if not isinstance(data, dict) or part not in data:
            return
        data = data[part]
    if isinstance(data, dict) and loc:
        data.pop(loc[-1], None)


def _names(prefix: str) -> tuple[str, ...]:
    return tuple(part.split("[")[0] for part in prefix.split(".") if part)


def build_plan(data: Any, *, default_name: str = "batch", source: Path | None = None) -> BatchPlan:
    """Validate a parsed manifest and turn it into a plan, or raise every problem at once.

    ``source`` is the manifest's path: its ``include`` paths are relative to it (without it,
    to the working directory).
    """
    if not isinstance(data, Mapping):
        raise ManifestError(
            [
                Problem(
                    "", f"the manifest must be a mapping with 'projects', got {type(data).__name__}"
                )
            ]
        )
    problems: list[Problem] = []
    top = _section(
        ManifestDoc,
        {**data, "settings": {}, "projects": [{"id": "-"}], "defaults": {}, "include": None},
        "",
        problems,
    )
    raw_settings = data.get("settings") or {}
    settings_doc = _section(SettingsDoc, raw_settings, "settings", problems)
    if settings_doc is None:
        # Still report contradictions among the settings that are valid on their own.
        salvaged = _salvage(SettingsDoc, raw_settings)
        if salvaged is not None:
            problems.extend(Problem(f"settings.{k}", m) for k, m in salvaged.resolve().problems())
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        problems.append(Problem("defaults", "must be a mapping laid under every cluster"))
        defaults = {}
    root = Source(
        label="",
        directory=source.parent if source else None,
        layers=(("defaults", defaults),),
        projects=tuple(_top_projects(data, problems)),
    )
    before = len(problems)
    sources = [root, *gather_sources(data, root, source, problems)]
    if "include" in data and len(problems) == before and not any(s.projects for s in sources):
        problems.append(
            Problem("projects", "neither the manifest nor the files it includes list a project")
        )
    seen_projects: dict[tuple[str, str], str] = {}
    projects = [
        plan
        for s in sources
        for p_index, raw_project in enumerate(s.projects)
        if (plan := _plan_project(s, p_index, raw_project, seen_projects, problems)) is not None
    ]
    # Each file's own defaults are checked once, first, even when no cluster uses them.
    problems[:0] = [p for s in sources for p in validate_clusters([], layers=s.layers[-1:])[0]]
    # A secret written anywhere in the manifest is refused, wherever it is.
    problems.extend(literal_secret_problems(data))
    if settings_doc is not None:
        settings = settings_doc.resolve()
        problems.extend(Problem(f"settings.{k}", m) for k, m in settings.problems())
    problems = _unique(problems)
    if problems or top is None or settings_doc is None:
        raise ManifestError(problems)
    return BatchPlan(name=top.name or default_name, settings=settings, projects=tuple(projects))


def _top_projects(data: Mapping[str, Any], problems: list[Problem]) -> list[Any]:
    """The top manifest's own project entries: required, unless it includes files."""
    raw = data.get("projects")
    if "include" in data:
        if raw is None or isinstance(raw, list):
            return raw or []
        problems.append(Problem("projects", "must be a list of projects"))
        return []
    if not isinstance(raw, list) or not raw:
        problems.append(Problem("projects", "must be a non-empty list of projects"))
        return []
    return raw


def _plan_project(
    source: Source,
    p_index: int,
    raw_project: Any,
    seen: dict[tuple[str, str], str],
    problems: list[Problem],
) -> ProjectPlan | None:
    """One project entry of ``source`` as a plan; its problems go to ``problems``."""
    where = f"projects[{p_index}]"
    local: list[Problem] = []
    try:
        project = _section(ProjectDoc, raw_project, where, local)
        if project is None:
            return None
        if project.endpoint is None and project.region is None:
            local.append(Problem(where, "needs a region (or an explicit endpoint)"))
            return None
        endpoint = project.endpoint or cce_endpoint(project.region or "")
        key = (project.id, endpoint)
        if key in seen:
            local.append(
                Problem(
                    f"{where}.id",
                    f"project {project.id} at {endpoint} is already listed as "
                    f"{seen[key]}; merge their clusters into one entry",
                )
            )
            return None
        seen[key] = source.locate(where)
        credentials: CredentialsEntry | None = None
        if project.credentials is not None:
            try:
                credentials = _anchored(
                    parse_credentials_entry(project.credentials, f"{where}.credentials"), source
                )
            except ManifestError as exc:
                local.extend(exc.problems)
    finally:
        problems.extend(source.relabel(local))

    shown = source.locate(where)
    expansion = expand_clusters(project.clusters, shown)
    problems.extend(expansion.problems)
    base: dict[str, Any] = {}
    for _, layer in source.layers:
        base = deep_merge(base, layer)
    base = deep_merge(base, project.defaults)
    bodies = []
    for entry in expansion.entries:
        merged = deep_merge(base, entry.body)
        merged.setdefault("kind", "Cluster")
        merged.setdefault("apiVersion", "v3")
        bodies.append((entry.location, merged, entry.body))
    found, plans = validate_clusters(
        bodies, layers=[*source.layers, (source.locate(f"{where}.defaults"), project.defaults)]
    )
    problems.extend(collapse_repeats(found, expansion))
    return ProjectPlan(
        id=project.id,
        region=project.region,
        endpoint=endpoint,
        clusters=tuple(ClusterPlan.of(n, b, loc) for loc, n, b in plans),
        location=shown,
        credentials=credentials,
    )


def _anchored(entry: CredentialsEntry, source: Source) -> CredentialsEntry:
    """A relative profile path of an included file, made relative to that file's directory."""
    if not (isinstance(entry, ProfileEntry) and source.label and source.directory):
        return entry
    if entry.path.startswith("~") or Path(entry.path).is_absolute():
        return entry
    return dataclasses.replace(entry, path=str(source.directory.absolute() / entry.path))


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    out = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out
