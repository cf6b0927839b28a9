"""Reading one manifest file: its text as UTF-8, parsed as JSON or YAML by its content.

Every failure is a ``ManifestError`` located at the file (and line and column, when the
parser knows them). Used for the top manifest and for every file it includes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from batchcreate.errors import ManifestError, Problem

# libyaml's parser when PyYAML has it (its wheels do): it parses a 10,000-cluster manifest
# written out cluster by cluster in 0.8 s of CPU, against 2.9 s for the pure-Python one,
# with the same nodes and marks. Its complaints about bad syntax are worded a little
# differently, and it is more lenient with tabs.
try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(_SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue  # ``<<: *anchor`` merges a mapping in: not a key of this one
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                line = key_node.start_mark.line + 1
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} on line {line} repeats the one on line {first}",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def parse_document(text: str, source: str) -> Any:
    """Parse manifest text as JSON or YAML, chosen by its content; raise located problems.

    Text that opens with ``{`` or ``[`` is JSON, and a JSON syntax error is reported as one,
    unless the file is named ``.yaml``/``.yml`` and parses as YAML (a flow mapping).
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise ManifestError([Problem(source, "the manifest is empty")])
    if stripped[0] in "{[":
        try:
            return json.loads(text.removeprefix("\ufeff"), object_pairs_hook=_unique_pairs)
        except json.JSONDecodeError as exc:
            if Path(source).suffix.lower() not in (".yaml", ".yml"):
                raise ManifestError(
                    [Problem(f"{source}:{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}")]
                ) from None
        except ValueError as exc:  # a repeated key, from _unique_pairs
            raise ManifestError([Problem(source, f"invalid JSON: {exc}")]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no object tags
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        what = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{context}: {what}" if context and "repeats" not in str(what) else what
        raise ManifestError([Problem(where, f"invalid YAML: {detail}")]) from None
    if data is None:
        raise ManifestError([Problem(source, "the manifest is empty (only comments)")])
    return data


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, except that a key given twice is an error, as in YAML."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} is given twice in one object")
        out[key] = value
    return out


def read_manifest_text(path: Path) -> str:
    """The manifest's text; unreadable or undecodable files raise a located problem."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ManifestError([Problem(str(path), "no such file")]) from None
    except IsADirectoryError:
        raise ManifestError([Problem(str(path), "is a directory, not a manifest file")]) from None
    except PermissionError:
        raise ManifestError([Problem(str(path), "permission denied")]) from None
    except UnicodeDecodeError as exc:
        raise ManifestError(
            [Problem(str(path), f"not UTF-8 text (byte {exc.start}); save it as UTF-8")]
        ) from None
    except OSError as exc:
        raise ManifestError([Problem(str(path), f"cannot read: {exc.strerror}")]) from None
