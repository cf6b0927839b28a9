"""JSON Schemas (draft 2020-12) of the manifest and the report, generated from the models.

The manifest schema is for editors: the manifest's own keys come from ``ManifestDoc`` and
its parts, strict as the loader is, so a key added to them appears here by itself; every
``defaults`` and cluster entry is a CCE create body from ``batchcreate.models`` with every
field optional (defaults are merged in) and unknown fields allowed (they are passed
through), and a cluster entry may be a template (``count``, ``start``). What pydantic cannot
see (validators, rules in ``build_plan``) is added here by name. The schema cannot check what
spans fields, clusters or files, such as unique names: ``batchcreate validate`` does. The
report schema is ``Report``'s, as reports are written.

The committed copies under ``schemas/`` are rewritten by ``python -m batchcreate.schemas``;
``python -m batchcreate.schemas --check`` fails when they are out of date.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema

from batchcreate.durations import format_duration, parse_duration
from batchcreate.endpoints import REGION_PATTERN
from batchcreate.manifest import ManifestDoc
from batchcreate.models import ClusterBody
from batchcreate.report import SCHEMA_VERSION, Report, write_atomically
from batchcreate.settings import Settings
from batchcreate.templates import MAX_COUNT
from batchcreate.validation import KNOWN_BODY_KEYS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: Identifiers, not locations: nothing is published at a URL yet.
MANIFEST_ID = "urn:batchcreate:schema:manifest"
REPORT_MAJOR = SCHEMA_VERSION.split(".")[0]
REPORT_ID = f"urn:batchcreate:schema:report:v{REPORT_MAJOR}"

#: The committed copies, beside the package in a source checkout.
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
REGENERATE = "python -m batchcreate.schemas"

_NUMBER = r"(?:\d+(?:\.\d+)?|\.\d+)"
#: What ``parse_duration`` accepts, written the documented ways; stricter only in oddities
#: such as ``1e3`` or spaces inside a number.
DURATION_PATTERN = rf"^\s*(?:{_NUMBER}|(?:{_NUMBER} *(?:ms|s|m|h|d) *)+)\s*$"
_DURATION_MARK = "x-batchcreate-duration"
_DURATION_DEF = "Duration"
_BODY_DEF = "ClusterBody"
_CREDENTIALS_DEF = "CredentialsEntry"
_VARIABLE = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ENTRY_DEF = "ClusterEntry"
#: Top-level keys ``build_plan`` reads as ``data.get(key) or {}``: an empty ``settings:``
#: (every line below it commented out) is null, and fine.
_NULLABLE_TOP = ("settings", "defaults")

#: What the loader checks with validators, which pydantic cannot see, as schema keywords.
_FIELD_CHECKS: dict[str, dict[str, dict[str, Any]]] = {
    "ProjectDoc": {
        "id": {"pattern": r"^[^/\s](?:[^/]*[^/\s])?$"},
        "region": {"pattern": REGION_PATTERN.pattern},
        "endpoint": {"pattern": r"^https?://[^/?#\s]+[^?#]*$"},
    },
}

_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "ManifestDoc": {
        "name": "The batch's name, in the report and the logs (default: the file name).",
        "settings": "How the batch runs; every key is optional and CLI flags override them.",
        "defaults": "A partial create body, deep-merged under every cluster of the batch.",
        "include": "Files holding more projects (paths or globs, relative to this file).",
        "projects": "The projects whose clusters are created.",
    },
    "SettingsDoc": {
        "rateLimit": "API calls per second to one endpoint: creates, polls and lists together.",
        "maxInFlight": "Clusters submitted and not yet terminal, whole batch.",
        "maxInFlightPerProject": "Clusters submitted and not yet terminal, per project.",
        "timeout": "Per cluster, from its first create request to a terminal phase.",
        "poll": "When creation jobs are polled.",
        "retry": "How calls that failed transiently are retried.",
        "requestTimeout": "The limit for one HTTP call.",
    },
    "PollDoc": {
        "initialDelay": "Wait after a create before the first job poll.",
        "interval": "Wait between polls at first.",
        "maxInterval": "The longest wait between polls (at least interval).",
        "backoff": "How much the wait grows after each poll.",
    },
    "RetryDoc": {
        "attempts": "Sends per call for transient failures (5xx, resets, timeouts); not 429s.",
        "baseDelay": "First backoff ceiling (exponential, full jitter).",
        "maxDelay": "Backoff cap (at least baseDelay).",
    },
    "ProjectDoc": {
        "id": "The CCE project id.",
        "region": "The region, such as cn-north-4; selects the public CCE endpoint.",
        "endpoint": "An explicit http(s) endpoint instead of the region's: private clouds.",
        "defaults": "A partial create body, deep-merged under every cluster of the project.",
        "clusters": "The project's clusters: create bodies, or templates with count.",
        "credentials": "Where this project's secrets are read from; never a secret itself.",
    },
}

_MANIFEST_DESCRIPTION = (
    "A batchcreate manifest: CCE clusters to create, by project. Cluster entries are CCE "
    "create bodies laid over the defaults. `batchcreate validate` checks what this schema "
    "cannot, such as unique names and rules that span fields."
)
_REPORT_DESCRIPTION = (
    f"The JSON report of a batchcreate run, or of shard runs merged (schemaVersion "
    f"{SCHEMA_VERSION}). Within major version {REPORT_MAJOR}, fields are only added."
)
_DURATION_SCHEMA: dict[str, Any] = {
    "description": "A duration: 150s, 0.5s, 250ms, 30m, 1h, 1h30m, or a number of seconds.",
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": DURATION_PATTERN},
    ],
}
_CREDENTIALS_SCHEMA: dict[str, Any] = {
    "description": "Exactly one of {env: PREFIX}, {profile: PATH, section: NAME}, {iam: {...}}.",
    "oneOf": [
        {
            "type": "object",
            "properties": {"env": {"type": "string", "pattern": _VARIABLE}},
            "required": ["env"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "profile": {"type": "string", "pattern": r"\S"},
                "section": {"type": "string", "pattern": r"\S"},
            },
            "required": ["profile"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "iam": {
                    "type": "object",
                    "properties": {
                        "user": {"type": "string", "pattern": r"\S"},
                        "userEnv": {"type": "string", "pattern": _VARIABLE},
                        "passwordEnv": {"type": "string", "pattern": _VARIABLE},
                        "domain": {"type": "string", "pattern": r"\S"},
                        "domainEnv": {"type": "string", "pattern": _VARIABLE},
                        "endpoint": {"type": "string", "pattern": r"^https?://[^/?#\s]+[^?#]*$"},
                        "scope": {"enum": ["project", "region"]},
                    },
                    "required": ["passwordEnv"],
                    "allOf": [
                        {"oneOf": [{"required": ["user"]}, {"required": ["userEnv"]}]},
                        {"oneOf": [{"required": ["domain"]}, {"required": ["domainEnv"]}]},
                    ],
                    "additionalProperties": False,
                }
            },
            "required": ["iam"],
            "additionalProperties": False,
        },
    ],
}
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


class _Generator(GenerateJsonSchema):
    """Pydantic's generator, marking durations and leaving out titles made from field names."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        if schema["function"].get("function") is parse_duration:
            return {_DURATION_MARK: True}
        return super().function_before_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _generate(model: type[BaseModel], mode: JsonSchemaMode = "validation") -> dict[str, Any]:
    return model.model_json_schema(by_alias=True, schema_generator=_Generator, mode=mode)


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema (not property map) within ``node``, ``node`` included, parents first."""
    if not isinstance(node, dict):
        return
    yield node
    for key in ("properties", "$defs"):
        for child in node.get(key, {}).values():
            yield from _nodes(child)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for child in node.get(key, []):
            yield from _nodes(child)
    for key in ("items", "additionalProperties", "not"):
        yield from _nodes(node.get(key))


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema ``node`` stands for: through a ``$ref``, or an ``anyOf``'s object."""
    if "$ref" in node:
        return _resolve(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if node.get("type") == "object":
        return node
    for branch in node.get("anyOf", []):
        found = _resolve(branch, defs)
        if found is not None:
            return found
    return None


def _is_free_form(node: dict[str, Any], item: bool = False) -> bool:
    """Whether a generated property is a bare ``dict[str, Any]`` (or a list of them)."""
    if item:
        return node.get("type") == "array" and _is_free_form(node.get("items", {}))
    return node.get("type") == "object" and "properties" not in node and "$ref" not in node


def _durations(schema: dict[str, Any]) -> None:
    """Marked durations become references to one ``Duration``, their bounds kept for numbers."""
    for node in _nodes(schema):
        if node.pop(_DURATION_MARK, None) is None:
            continue
        node["$ref"] = f"#/$defs/{_DURATION_DEF}"
        for key, keyword in _BOUNDS.items():
            if key in node:
                node[keyword] = node.pop(key)
        # Bounds apply to numbers only; for strings "above zero" means "some digit not 0".
        if node.get("exclusiveMinimum") == 0:
            node["pattern"] = "[1-9]"
    schema["$defs"][_DURATION_DEF] = copy.deepcopy(_DURATION_SCHEMA)


def _drop_null_defaults(schema: dict[str, Any]) -> None:
    """An absent manifest key means "use the default", never null: no ``default: null``."""
    for node in _nodes(schema):
        if "default" in node and node["default"] is None:
            del node["default"]


def _set_defaults(node: dict[str, Any], values: dict[str, Any], defs: dict[str, Any]) -> None:
    """The built-in settings as each key's ``default``; durations written as durations."""
    for key, prop in node.get("properties", {}).items():
        if key not in values:
            continue
        value = values[key]
        if isinstance(value, dict):
            target = _resolve(prop, defs)
            if target is not None:
                _set_defaults(target, value, defs)
        elif any(n.get("$ref") == f"#/$defs/{_DURATION_DEF}" for n in _nodes(prop)):
            prop["default"] = format_duration(value)
        else:
            prop["default"] = value


def _object_at(
    node: dict[str, Any], path: tuple[str, ...], defs: dict[str, Any]
) -> dict[str, Any] | None:
    """The object schema at ``path`` below ``node``; a known key not modelled becomes one."""
    for part in path:
        prop = node.setdefault("properties", {}).setdefault(part, {})
        if not prop:
            prop.update({"type": "object", "additionalProperties": True})
        found = _resolve(prop, defs)
        if found is None:
            return None
        node = found
    return node


def _body_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The create body with nothing required, plus every key batchcreate knows by name."""
    body = _generate(ClusterBody)
    defs: dict[str, Any] = body.pop("$defs", {})
    for node in _nodes({"$defs": {**defs, _BODY_DEF: body}}):
        node.pop("required", None)
    for path in sorted(KNOWN_BODY_KEYS, key=len):
        target = _object_at(body, path, defs)
        if target is not None:
            props = target.setdefault("properties", {})
            for key in KNOWN_BODY_KEYS[path]:
                props.setdefault(key, {})
    body["description"] = (
        "A CCE create body (POST /api/v3/projects/{project_id}/clusters), or part of one: "
        "every field is optional here because defaults are merged in, and unknown fields are "
        "passed through to the service."
    )
    return body, defs


def _entry_schema() -> dict[str, Any]:
    """A cluster entry: a create body, or a template of ``count`` of them (``templates.py``)."""
    return {
        "$ref": f"#/$defs/{_BODY_DEF}",
        "description": (
            "One cluster's create body, laid over the defaults; with count, a template of "
            "count clusters whose metadata.name (and alias, label and annotation values) may "
            "hold {index}, such as edge-{index:03d}."
        ),
        "properties": {
            "count": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_COUNT,
                "description": "Make this many clusters from this entry, a template.",
            },
            "start": {
                "type": "integer",
                "minimum": 0,
                "default": 0,
                "description": "The first {index} of a template.",
            },
        },
        "dependentRequired": {"start": ["count"]},
    }


def _checked(prop: dict[str, Any], checks: dict[str, Any]) -> None:
    """Add ``checks`` to the string branch of ``prop``."""
    for node in _nodes(prop):
        if node.get("type") == "string":
            node.update(checks)
            return


def _or_null(prop: dict[str, Any]) -> dict[str, Any]:
    """``prop`` that also allows null, its description kept outside."""
    if {"type": "null"} in prop.get("anyOf", []):
        return prop
    annotations: dict[str, Any] = {k: prop.pop(k) for k in ("description", "default") if k in prop}
    return {"anyOf": [prop, {"type": "null"}], **annotations}


def _entries(models: dict[str, Any]) -> None:
    """Free-form ``defaults`` and ``clusters`` of the manifest's own documents become bodies."""
    for model in models.values():
        if model.get("additionalProperties") is not False:
            continue
        props = model.get("properties", {})
        defaults, clusters = props.get("defaults"), props.get("clusters")
        if defaults is not None and _is_free_form(defaults):
            props["defaults"] = {"$ref": f"#/$defs/{_BODY_DEF}"}
        if clusters is not None and _is_free_form(clusters, item=True):
            clusters["items"] = {"$ref": f"#/$defs/{_ENTRY_DEF}"}


def _projects_unless_included(schema: dict[str, Any]) -> None:
    """Without ``include``, ``projects`` is required and non-empty (``build_plan`` says so)."""
    props, required = schema["properties"], schema.get("required", [])
    if "include" in props and "projects" in props and "projects" not in required:
        schema["if"] = {"not": {"required": ["include"]}}
        schema["then"] = {"required": ["projects"], "properties": {"projects": {"minItems": 1}}}


def manifest_schema() -> dict[str, Any]:
    """The manifest's JSON Schema: its own keys strict, cluster entries as create bodies."""
    schema = _generate(ManifestDoc)
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    root_name = schema.get("title", ManifestDoc.__name__)
    models = {**defs, root_name: schema}

    body, body_defs = _body_schema()
    ours = {_BODY_DEF, _ENTRY_DEF, _CREDENTIALS_DEF, _DURATION_DEF}
    clashes = sorted((set(body_defs) | ours) & set(defs))
    if clashes:
        raise RuntimeError(f"the manifest models and the body schema both define {clashes}")
    defs.update(body_defs)
    defs[_BODY_DEF] = body
    defs[_ENTRY_DEF] = _entry_schema()
    _entries(models)
    _projects_unless_included(schema)

    credentials = models.get("ProjectDoc", {}).get("properties", {}).get("credentials")
    if credentials is not None and not {"type", "$ref", "anyOf"} & set(credentials):
        defs[_CREDENTIALS_DEF] = copy.deepcopy(_CREDENTIALS_SCHEMA)
        credentials["anyOf"] = [{"$ref": f"#/$defs/{_CREDENTIALS_DEF}"}, {"type": "null"}]

    for model, fields in _FIELD_CHECKS.items():
        props = models.get(model, {}).get("properties", {})
        for key, checks in fields.items():
            if key in props:
                _checked(props[key], checks)
    for model, texts in _DESCRIPTIONS.items():
        props = models.get(model, {}).get("properties", {})
        for key, text in texts.items():
            if key in props:
                props[key]["description"] = text

    for key in _NULLABLE_TOP:
        if key in schema["properties"]:
            schema["properties"][key] = _or_null(schema["properties"][key])
    _durations(schema)
    _drop_null_defaults(schema)
    settings = _resolve(schema["properties"].get("settings", {}), defs)
    if settings is not None:
        _set_defaults(settings, Settings().to_report(), defs)
    return _framed(schema, MANIFEST_ID, "batchcreate manifest", _MANIFEST_DESCRIPTION)


def report_schema() -> dict[str, Any]:
    """The report's JSON Schema, as the report is written (``by_alias``)."""
    schema = _generate(Report, mode="serialization")
    version = schema["properties"]["schemaVersion"]
    version["pattern"] = rf"^{REPORT_MAJOR}\.\d+\.\d+$"
    version["description"] = "Semantic version of this format; this schema reads its major."
    return _framed(schema, REPORT_ID, "batchcreate report", _REPORT_DESCRIPTION)


def _framed(schema: dict[str, Any], id_: str, title: str, description: str) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "$id": id_,
        **schema,
        "title": title,
        "description": description,
    }


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "manifest": manifest_schema,
    "report": report_schema,
}


def render_schema(name: str) -> str:
    """The schema called ``name`` as stable JSON text: sorted keys, indent 2, final newline."""
    try:
        build = SCHEMAS[name]
    except KeyError:
        raise ValueError(
            f"unknown schema {name!r}; choose one of {', '.join(sorted(SCHEMAS))}"
        ) from None
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(name: str, directory: Path = SCHEMA_DIR) -> Path:
    """Where the committed copy of schema ``name`` lives."""
    return directory / f"{name}.schema.json"


def stale_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """The committed schema files that are missing or differ from the models."""
    stale = []
    for name in sorted(SCHEMAS):
        path = schema_path(name, directory)
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != render_schema(name):
            stale.append(path)
    return stale


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Rewrite every schema file under ``directory`` from the models; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in sorted(SCHEMAS):
        path = schema_path(name, directory)
        write_atomically(path, render_schema(name))
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m batchcreate.schemas [--check] [DIR]``: rewrite or check the schema files."""
    parser = argparse.ArgumentParser(
        prog="python -m batchcreate.schemas",
        description="Rewrite schemas/*.schema.json from the models (or check them).",
    )
    parser.add_argument("directory", nargs="?", type=Path, default=SCHEMA_DIR)
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if any file is stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_schemas(args.directory)
        for path in stale:
            print(f"{path} is out of date; regenerate with: {REGENERATE}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_schemas(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
