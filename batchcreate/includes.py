"""Includes: a manifest's projects split across files (``include: [east.yaml, teams/*.yaml]``).

An included file holds ``projects``, and may hold ``defaults`` and its own ``include``. Paths
are relative to the file that names them; globs (``*``, ``?``, ``[...]``, ``**``) are expanded
in sorted order and must match at least one file. A file's ``defaults`` lie over those of the
files that include it, and under its own projects' ``defaults``; so top-level ``defaults``
still reach every cluster of the batch. Projects come in order: the top manifest's own, then
each included file's, depth first, in ``include`` order.

Every problem found in an included file is located with its path, as seen from the top
manifest's directory: ``teams/b.yaml: projects[0].clusters[1] (x): ...``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchcreate.credentials import literal_secret_problems
from batchcreate.documents import parse_document, read_manifest_text
from batchcreate.errors import ManifestError, Problem
from batchcreate.problems import describe, suggest

#: The keys an included file may hold.
INCLUDED_KEYS = ("projects", "defaults", "include")
#: Keys only the top manifest may hold, because they apply to the whole batch.
TOP_ONLY_KEYS = ("name", "settings")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Source:
    """One file's share of the batch: its projects, and the defaults laid under them."""

    #: How problems name the file: "" for the top manifest, else its path (``teams/b.yaml``).
    label: str
    #: The file's directory, which anchors its relative paths; None for a manifest not read
    #: from a file.
    directory: Path | None
    #: Every ``defaults`` above this file's projects, outermost first, with its location.
    layers: tuple[tuple[str, Mapping[str, Any]], ...]
    projects: tuple[Any, ...]

    def locate(self, where: str) -> str:
        """``where`` inside this file, as problems name it."""
        if not self.label:
            return where
        return f"{self.label}: {where}" if where else self.label

    def relabel(self, problems: Sequence[Problem]) -> list[Problem]:
        """Problems located within this file, located from the top manifest."""
        return [Problem(self.locate(p.location), p.message) for p in problems]


def include_entries(value: object, where: str, problems: list[Problem]) -> list[str]:
    """The paths and globs of an ``include`` value; a bad value is a located problem."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        problems.append(
            Problem(where, f"must be a list of file paths or globs, got {describe(value)}")
        )
        return []
    entries = []
    for index, entry in enumerate(value):
        if isinstance(entry, str) and entry.strip():
            entries.append(entry.strip())
        else:
            problems.append(
                Problem(f"{where}[{index}]", f"must be a file path or glob, got {describe(entry)}")
            )
    return entries


class _Gatherer:
    """Reads included files depth first, refusing cycles and files reached twice."""

    def __init__(self, root: Path | None, problems: list[Problem]) -> None:
        self.root = root
        self.root_dir = (root.parent if root else Path.cwd()).absolute()
        self.problems = problems
        #: Every file read so far (the top manifest too), by its resolved path: its label.
        self.read: dict[Path, str] = {root.resolve(): root.name} if root else {}
        #: Where each included file was first included (``a.yaml: include[0]``).
        self.first: dict[Path, str] = {}

    def label(self, path: Path) -> str:
        return os.path.relpath(os.path.normpath(path.absolute()), self.root_dir)

    def gather(
        self,
        value: object,
        owner: Source,
        chain: tuple[Path, ...],
    ) -> list[Source]:
        """The sources ``owner``'s ``include`` value names, and everything they include."""
        where = owner.locate("include")
        directory = owner.directory or self.root_dir
        seen_here: set[Path] = set()
        out: list[Source] = []
        for index, entry in enumerate(include_entries(value, where, self.problems)):
            at = f"{where}[{index}]"
            for path in self._matches(entry, directory, chain, at):
                resolved = path.resolve()
                if resolved in seen_here:
                    continue  # one list naming a file twice (a path and a glob) reads it once
                seen_here.add(resolved)
                if resolved in chain:
                    cycle = " → ".join([*(self.read[p] for p in chain), self.read[resolved]])
                    self.problems.append(Problem(at, f"include cycle: {cycle}"))
                    continue
                if resolved in self.read:
                    self.problems.append(
                        Problem(
                            at,
                            f"{self.read[resolved]} is already included by "
                            f"{self.first[resolved]}; include each file from one place only",
                        )
                    )
                    continue
                self.read[resolved] = self.label(path)
                self.first[resolved] = at
                out.extend(self._source(path, at, owner, (*chain, resolved)))
        return out

    def _matches(self, entry: str, directory: Path, chain: tuple[Path, ...], at: str) -> list[Path]:
        if not _GLOB_CHARS & set(entry):
            return [directory / entry]
        owner = chain[-1] if chain else None
        found = [
            directory / m
            for m in sorted(glob.glob(entry, root_dir=directory, recursive=True))
            if (directory / m).is_file() and (directory / m).resolve() != owner
        ]
        if not found:
            self.problems.append(Problem(at, f"{entry!r} matches no file"))
        return found

    def _source(self, path: Path, at: str, owner: Source, chain: tuple[Path, ...]) -> list[Source]:
        label = self.label(path)
        try:
            data = parse_document(read_manifest_text(path), label)
        except ManifestError as exc:
            for problem in exc.problems:
                if problem.location == str(path):  # unreadable: say so where it is included
                    self.problems.append(Problem(at, f"{label}: {problem.message}"))
                else:
                    self.problems.append(problem)
            return []
        local: list[Problem] = []
        source = _check_included(data, label, path.parent, owner, local)
        self.problems.extend(local)
        if source is None:
            return []
        return [source, *self.gather(data.get("include"), source, chain)]


def _check_included(
    data: Any, label: str, directory: Path, owner: Source, problems: list[Problem]
) -> Source | None:
    """An included file's shape, as a source; None when it cannot be one."""
    if not isinstance(data, Mapping):
        problems.append(
            Problem(
                label,
                f"an included file must be a mapping with projects, got {type(data).__name__}",
            )
        )
        return None
    for key in data:
        text = str(key)
        if text in INCLUDED_KEYS:
            continue
        if text in TOP_ONLY_KEYS:
            message = f"only the top manifest sets {text}: it applies to the whole batch"
        else:
            hint = suggest(text, INCLUDED_KEYS)
            message = (
                f"unknown key; did you mean {hint}?"
                if hint
                else f"unknown key; an included file holds {', '.join(INCLUDED_KEYS)}"
            )
        problems.append(Problem(f"{label}: {text}", message))
    projects = data.get("projects", [])
    if not isinstance(projects, list):
        problems.append(Problem(f"{label}: projects", "must be a list of projects"))
        projects = []
    elif "projects" not in data and "include" not in data:
        problems.append(Problem(label, "lists no projects and includes no file"))
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        problems.append(
            Problem(f"{label}: defaults", "must be a mapping laid under this file's clusters")
        )
        defaults = {}
    problems.extend(
        Problem(f"{label}: {p.location}", p.message) for p in literal_secret_problems(data)
    )
    return Source(
        label=label,
        directory=directory,
        layers=(*owner.layers, (f"{label}: defaults", defaults)),
        projects=tuple(projects),
    )


def gather_sources(
    data: Mapping[str, Any], top: Source, root: Path | None, problems: list[Problem]
) -> list[Source]:
    """The sources ``data`` (the top manifest, read from ``root``) includes, depth first."""
    if "include" not in data:
        return []
    gatherer = _Gatherer(root, problems)
    chain = (root.resolve(),) if root else ()
    return gatherer.gather(data["include"], top, chain)
