"""Cluster templates: one entry with ``count: N`` and a name pattern makes N cluster entries.

A template's ``metadata.name`` is a Python format string over one field, ``index``
(``edge-{index:03d}``), which runs from ``start`` (default 0) to ``start + count - 1``.
``metadata.alias`` and the string values of ``metadata.labels`` and ``metadata.annotations``
are patterns too. Each made entry is located ``<template>[index]``, such as
``projects[1].clusters[2][7]``, so its errors and its report entry lead back to the template.

Problems of the template itself (count, start, patterns, generated names that break the name
rule or repeat another cluster's) are reported once, at the template, which is then not
expanded. ``collapse_repeats`` folds the problems validation finds in every cluster of one
template (a bad flavor written once in it) back into one line.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from batchcreate.errors import Problem
from batchcreate.models import check_cluster_name
from batchcreate.problems import describe, join_path

#: The keys that make an entry a template; they never reach the create body.
TEMPLATE_KEYS = ("count", "start")
#: The most clusters one template may make: a typo's extra zeros fail loudly, not slowly.
MAX_COUNT = 10_000
FIELD = "index"

_FORMATTER = string.Formatter()


@dataclass(frozen=True)
class Entry:
    """One cluster entry as written, or as a template made it."""

    location: str
    body: dict[str, Any]
    #: The head of the template that made it (``projects[0].clusters[2] (edge-{index})``).
    template: str | None = None


@dataclass
class Expansion:
    """A project's cluster entries with every template expanded, and the templates' problems."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: How many clusters each template made, by its head.
    sizes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Pattern:
    """A string that may hold ``{index}``, checked once and then filled in per index."""

    text: str
    uses_index: bool

    def fill(self, index: int) -> str:
        return self.text.format(index=index) if self.uses_index else self.text


def _name_of(entry: object) -> object:
    metadata = entry.get("metadata") if isinstance(entry, Mapping) else None
    return metadata.get("name") if isinstance(metadata, Mapping) else None


def _head(location: str, entry: object) -> str:
    name = _name_of(entry)
    return f"{location} ({name})" if isinstance(name, str) and name else location


def _pattern_problem(text: str, start: int) -> tuple[bool, str | None]:
    """Whether ``text`` uses ``{index}``, and what is wrong with it as a pattern, if anything."""
    uses = False
    try:
        for _, name, spec, conversion in _FORMATTER.parse(text):
            if name is None:
                continue
            if name != FIELD:
                shown = f"{{{name}}}" if name else "{}"
                return uses, (
                    f"unknown field {shown} in pattern {text!r}; the only field is {{index}} "
                    "(write literal braces as {{ and }})"
                )
            if conversion or (spec and "{" in spec):
                return uses, f"pattern {text!r}: write the field as {{index}} or {{index:SPEC}}"
            uses = True
    except ValueError as exc:  # an unmatched brace
        return uses, f"pattern {text!r}: {exc} (write literal braces as {{{{ and }}}})"
    try:
        text.format(index=start)
    except ValueError as exc:  # a format spec that does not fit a whole number
        return uses, f"pattern {text!r}: {exc}"
    return uses, None


def _whole(value: object, minimum: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _patterns(
    metadata: Mapping[str, Any], start: int, problems: list[Problem], head: str
) -> dict[tuple[str, ...], _Pattern]:
    """Every patterned string of a template's metadata, by its path under ``metadata``."""
    places: list[tuple[tuple[str, ...], object]] = [
        (("name",), metadata.get("name")),
        (("alias",), metadata.get("alias")),
    ]
    for group in ("labels", "annotations"):
        values = metadata.get(group)
        if isinstance(values, Mapping):
            places.extend(((group, str(k)), v) for k, v in values.items())
    found: dict[tuple[str, ...], _Pattern] = {}
    for path, value in places:
        if not isinstance(value, str):
            continue
        uses, problem = _pattern_problem(value, start)
        if problem is not None:
            problems.append(Problem(f"{head}: {join_path('metadata', path)}", problem))
        else:
            found[path] = _Pattern(value, uses)
    return found


def _fill(
    entry: Mapping[str, Any], patterns: Mapping[tuple[str, ...], _Pattern], index: int
) -> dict[str, Any]:
    """The cluster entry the template makes for ``index``."""
    body = {k: v for k, v in entry.items() if k not in TEMPLATE_KEYS}
    metadata = dict(body["metadata"])
    for group in ("labels", "annotations"):
        if isinstance(metadata.get(group), Mapping):
            metadata[group] = dict(metadata[group])
    for path, pattern in patterns.items():
        target = metadata if len(path) == 1 else metadata[path[0]]
        target[path[-1]] = pattern.fill(index)
    body["metadata"] = metadata
    return body


class _Expander:
    """Expands one project's cluster list, remembering every name to find collisions."""

    def __init__(self, clusters: Sequence[Any], where: str) -> None:
        self.clusters = clusters
        self.where = where
        self.out = Expansion()
        #: Names written literally anywhere in the project, then those templates made.
        self.taken: dict[str, str] = {}
        for c_index, entry in enumerate(clusters):
            name = _name_of(entry)
            if isinstance(name, str) and not _is_template(entry):
                self.taken.setdefault(name, f"{where}.clusters[{c_index}]")

    def run(self) -> Expansion:
        for c_index, entry in enumerate(self.clusters):
            location = f"{self.where}.clusters[{c_index}]"
            if _is_template(entry):
                self._template(location, entry)
            elif self._plain_ok(location, entry):
                self.out.entries.append(Entry(location, entry))
        return self.out

    def _problem(self, head: str, path: str, message: str) -> None:
        self.out.problems.append(Problem(f"{head}: {path}" if path else head, message))

    def _plain_ok(self, location: str, entry: Any) -> bool:
        name = _name_of(entry)
        if isinstance(name, str) and "{" + FIELD in name:
            self._problem(
                _head(location, entry),
                "metadata.name",
                "is a name pattern, but the entry has no count; add count: N to make N clusters",
            )
            return False
        return True

    def _template(self, location: str, entry: Mapping[str, Any]) -> None:
        head = _head(location, entry)
        count, start = self._numbers(head, entry)
        metadata = entry.get("metadata")
        if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
            self._problem(
                head, "metadata.name", "a template needs a name pattern such as edge-{index:03d}"
            )
            return
        if count is None or start is None:
            return
        before = len(self.out.problems)
        patterns = _patterns(metadata, start, self.out.problems, head)
        if len(self.out.problems) > before:
            return
        for key in ("name", "alias"):
            pattern = patterns.get((key,))
            if count > 1 and pattern is not None and not pattern.uses_index:
                self._problem(
                    head,
                    f"metadata.{key}",
                    f"has no {{index}} field, so all {count} clusters would share "
                    f"{pattern.text!r}; write a pattern such as {pattern.text}-{{index:03d}}",
                )
                return
        indices = range(start, start + count)
        names = [patterns[("name",)].fill(i) for i in indices]
        if self._names_ok(head, location, indices, names):
            self.out.sizes[head] = count
            self.out.entries.extend(
                Entry(f"{location}[{i}]", _fill(entry, patterns, i), head) for i in indices
            )

    def _numbers(self, head: str, entry: Mapping[str, Any]) -> tuple[int | None, int | None]:
        """A template's ``count`` and ``start``, each None when it is wrong (and reported)."""
        count, start = entry.get("count"), entry.get("start", 0)
        if "count" not in entry:
            self._problem(head, "start", "only applies to a template; add count: N")
            count = None
        elif not _whole(count, 1) or count > MAX_COUNT:
            limit = f"from 1 to {MAX_COUNT}" if _whole(count, 1) else "≥ 1"
            self._problem(head, "count", f"must be a whole number {limit}, got {describe(count)}")
            count = None
        if not _whole(start, 0):
            self._problem(head, "start", f"must be a whole number ≥ 0, got {describe(start)}")
            start = None
        return count, start

    def _names_ok(
        self, head: str, location: str, indices: Iterable[int], names: Sequence[str]
    ) -> bool:
        """Report the first made name that breaks the rule or is taken, with how many do."""
        broken: list[tuple[int, str]] = []
        for index, name in zip(indices, names, strict=True):
            try:
                check_cluster_name(name)
            except ValueError as exc:
                broken.append((index, str(exc)))
        if broken:
            index, reason = broken[0]
            more = ""
            if len(broken) > 1:
                some = "all" if len(broken) == len(names) else f"{len(broken)} of the"
                more = f"; {some} {len(names)} names break it"
            self._problem(head, "metadata.name", f"at index {index}, {reason}{more}")
            return False
        clashes = list(self._clashes(location, indices, names))
        if clashes:
            index, name, other = clashes[0]
            more = f"; {len(clashes)} of its names are taken" if len(clashes) > 1 else ""
            self._problem(
                head,
                "metadata.name",
                f"makes {name} at index {index}, but {other} already has that name{more}",
            )
            return False
        return True

    def _clashes(
        self, location: str, indices: Iterable[int], names: Sequence[str]
    ) -> Iterator[tuple[int, str, str]]:
        mine: dict[str, str] = {}
        for index, name in zip(indices, names, strict=True):
            other = self.taken.get(name) or mine.get(name)
            if other is not None:
                yield index, name, other
            mine.setdefault(name, f"{location}[{index}]")
        for name, where in mine.items():
            self.taken.setdefault(name, where)


def _is_template(entry: object) -> bool:
    return isinstance(entry, Mapping) and any(k in entry for k in TEMPLATE_KEYS)


def expand_clusters(clusters: Sequence[Any], where: str) -> Expansion:
    """``clusters`` of the project at ``where`` with each template replaced by what it makes."""
    return _Expander(clusters, where).run()


def collapse_repeats(problems: Sequence[Problem], expansion: Expansion) -> list[Problem]:
    """Fold a problem repeated across one template's clusters into one line.

    Found in every cluster a template made, it is reported once at the template; found in
    several, once at the first of them, saying how many more share it.
    """
    heads = {
        f"{e.location} ({_name_of(e.body)})": e.template
        for e in expansion.entries
        if e.template is not None
    }
    if not heads:
        return list(problems)
    groups: dict[tuple[str, str, str], list[Problem]] = {}
    order: list[tuple[str, str, str] | Problem] = []
    for problem in problems:
        template, path = _template_of(problem.location, heads)
        if template is None:
            order.append(problem)
            continue
        key = (template, path, problem.message)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(problem)
    out: list[Problem] = []
    for item in order:
        if isinstance(item, Problem):
            out.append(item)
            continue
        template, path, message = item
        members = groups[item]
        if len(members) == 1:
            out.append(members[0])
        elif len(members) == expansion.sizes[template]:
            out.append(Problem(f"{template}: {path}" if path else template, message))
        else:
            others = len(members) - 1
            out.append(
                Problem(
                    members[0].location,
                    f"{message} (and in {others} more of the template's clusters)",
                )
            )
    return out


def _template_of(location: str, heads: Mapping[str, str]) -> tuple[str | None, str]:
    """The template whose made cluster ``location`` points into, and the path under it."""
    if location in heads:
        return heads[location], ""
    head, _, path = location.rpartition(": ")
    return (heads[head], path) if head in heads else (None, "")
