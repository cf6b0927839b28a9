"""Turning validation failures into located, one-line, teaching messages."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from batchcreate.errors import Problem


def join_path(prefix: str, loc: Iterable[str | int]) -> str:
    """``spec`` + ``("hostNetwork", "vpc")`` → ``spec.hostNetwork.vpc``; ints as ``[i]``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The known spelling ``word`` most likely meant, if any is close enough."""
    options = list(choices)
    if word in options:
        return None
    folded = {c.lower(): c for c in options}
    if word.lower() in folded:
        return folded[word.lower()]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.75)
    return close[0] if close else None


def describe(value: object) -> str:
    """A short rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


KeysAt = Callable[[tuple[str | int, ...]], Sequence[str]]


def _no_keys(loc: tuple[str | int, ...]) -> Sequence[str]:
    return ()


def message_for(error: ErrorDetails, keys_at: KeysAt = _no_keys) -> str:
    """One human sentence for one pydantic error."""
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        hint = suggest(key, keys_at(tuple(error["loc"][:-1])))
        return f"unknown key; did you mean {hint}?" if hint else "unknown key"
    if kind in ("literal_error", "enum"):
        expected = str(error.get("ctx", {}).get("expected", ""))
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",")]
        hint = suggest(str(value), choices) if isinstance(value, str) else None
        text = f"{describe(value)} is not one of {', '.join(c for c in choices if c)}"
        return f"{text}; did you mean {hint}?" if hint else text
    if kind == "string_type":
        hint = " (quote it in YAML)" if isinstance(value, int | float | bool) else ""
        return f"must be a string, got {describe(value)}{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, got {describe(value)}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number, got {describe(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping of keys to values, got {describe(value)}"
    if kind == "list_type":
        return f"must be a list, got {describe(value)}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    msg = error["msg"]
    return msg[:1].lower() + msg[1:]


def problems_from(
    exc: ValidationError,
    prefix: str,
    keys_at: KeysAt = _no_keys,
    *,
    head: str = "",
) -> list[Problem]:
    """Every error of ``exc`` as a located problem; ``head`` names the cluster, if any."""
    out = []
    for error in exc.errors(include_url=False):
        where = join_path(prefix, error["loc"])
        location = f"{head}: {where}" if head and where else (head or where)
        out.append(Problem(location, message_for(error, keys_at)))
    return out


def unknown_key_problems(
    fragment: Any,
    known: Mapping[tuple[str, ...], Sequence[str]],
    prefix: str,
    head: str = "",
    path: tuple[str, ...] = (),
) -> list[Problem]:
    """Near-misses of known keys anywhere in a body fragment (``hostNetwok``).

    Keys nobody knows are left alone: they pass through to the service, which may accept
    fields newer than this tool. Only a key that looks like a misspelt known one is an error.
    """
    if not isinstance(fragment, Mapping):
        return []
    choices = known.get(path)
    out: list[Problem] = []
    for key, value in fragment.items():
        key_text = str(key)
        if choices is not None and key_text not in choices:
            hint = suggest(key_text, choices)
            if hint:
                where = join_path(prefix, (*path, key_text))
                location = f"{head}: {where}" if head else where
                out.append(Problem(location, f"unknown field; did you mean {hint}?"))
                continue
        out.extend(unknown_key_problems(value, known, prefix, head, (*path, key_text)))
    return out
