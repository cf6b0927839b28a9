"""Keeping secrets out of logs and messages: a structlog processor and string helpers.

Two nets, because either alone leaks. By shape: values under secret-sounding keys
(``password``, ``sk``, ``token``, ``X-Auth-Token``, ...), the ``Signature=`` of an
``Authorization`` header, ``key: value`` and ``key=value`` pairs in free text, and IAM's
long ``MII...`` tokens. By value: every secret the run actually holds, which a
``Redactor`` learns through ``add`` (credentials when they are resolved, IAM tokens when
they are fetched), in plain, JSON-escaped and percent-encoded spellings.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from structlog.typing import EventDict, WrappedLogger

MASK = "***"
#: Shorter known values are not replaced in free text: masking every "ab" garbles logs.
MIN_SECRET_LENGTH = 4

_SECRET_KEYS = frozenset(
    {
        "sk",
        "secretkey",
        "secretaccesskey",
        "secret",
        "password",
        "passwd",
        "token",
        "authtoken",
        "xauthtoken",
        "xsubjecttoken",
        "securitytoken",
        "xsecuritytoken",
        "signature",
        "authorization",
    }
)
_KEY_WORDS = (
    r"x-auth-token|x-subject-token|x-security-token|security_?token|secret_?key|"
    r"password|passwd|token|sk"
)
_VALUE = r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"',;&)\]}]+)"""
_KEYED = re.compile(
    rf"""(?P<key>\b(?:{_KEY_WORDS})["']?\s*[:=]\s*)(?P<value>{_VALUE})""", re.IGNORECASE
)
_SIGNATURE = re.compile(r"(Signature=)[^\s,\"']+")
_BEARER = re.compile(r"(\bBearer\s+)[^\s,\"']+", re.IGNORECASE)
_IAM_TOKEN = re.compile(r"\bMII[A-Za-z0-9+/=_-]{100,}")
#: Text without any of these (lower-cased) cannot match a pattern above: most log values
#: (names, ids, phases, timestamps, URLs) skip the four substitutions.
_SHAPE_HINTS = re.compile("token|secret|passw|sk|signature|bearer|mii")


def _maybe_shaped(text: str) -> bool:
    return _SHAPE_HINTS.search(text.lower()) is not None


def _mask_value(match: re.Match[str]) -> str:
    value = match["value"]
    quote_char = value[0] if value[0] in "\"'" else ""
    return f"{match['key']}{quote_char}{MASK}{quote_char}"


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret it shows masked: known values first, then by shape."""
    for secret in _ordered_spellings(frozenset(secrets)):
        if secret in text:
            text = text.replace(secret, MASK)
    if not _maybe_shaped(text):
        return text
    text = _SIGNATURE.sub(rf"\g<1>{MASK}", text)
    text = _BEARER.sub(rf"\g<1>{MASK}", text)
    text = _IAM_TOKEN.sub(f"MII{MASK}", text)
    return _KEYED.sub(_mask_value, text)


@functools.lru_cache(maxsize=64)
def _ordered_spellings(secrets: frozenset[str]) -> tuple[str, ...]:
    """Every spelling of the secrets, longest first (computed once per set of secrets)."""
    return tuple(sorted(_spellings(secrets), key=len, reverse=True))


def _spellings(secrets: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            out.update({secret, json.dumps(secret)[1:-1], quote(secret, safe="")})
    return out


@functools.lru_cache(maxsize=1024)
def _is_secret_name(name: str) -> bool:
    return name.lower().replace("-", "").replace("_", "") in _SECRET_KEYS


def is_secret_key(key: object) -> bool:
    """Whether a mapping key names a secret (``X-Auth-Token``, ``security_token``, ...)."""
    return _is_secret_name(key if isinstance(key, str) else str(key))


def redact_value(value: object, secrets: Iterable[str] = ()) -> object:
    """``value`` with secrets masked, recursing into mappings, lists and tuples.

    Other objects are left alone unless their ``repr`` shows a secret; then that ``repr``,
    masked, stands in for them.
    """
    known = list(secrets)
    if isinstance(value, str):
        return redact_text(value, known)
    if isinstance(value, Mapping):
        return {k: _redact_item(k, v, known) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(item, known) for item in value)
    if value is None or isinstance(value, bool | int | float):
        return value
    shown = value.decode("utf-8", "replace") if isinstance(value, bytes) else repr(value)
    masked = redact_text(shown, known)
    return value if masked == shown else masked


def _redact_item(key: object, value: object, secrets: list[str]) -> object:
    if not is_secret_key(key) or value is None or isinstance(value, bool):
        return redact_value(value, secrets)
    if isinstance(value, Mapping | list | tuple):
        return redact_value(value, secrets)
    if isinstance(value, str) and str(key).lower() == "authorization":
        masked = redact_text(value, secrets)
        return masked if masked != value else MASK
    return MASK


def redact_headers(headers: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    """Headers safe to log: secret headers masked, ``Authorization`` down to its signature."""
    return {k: str(_redact_item(k, v, list(secrets))) for k, v in headers.items()}


class Redactor:
    """A structlog processor that masks secrets in every event, learning secrets as it goes.

    Put it after ``format_exc_info`` (so tracebacks are text it can mask) and before the
    renderer.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._spellings: tuple[str, ...] = ()
        #: Keys seen that name no secret (event keys are few and repeat).
        self._ordinary_keys: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Mask ``secret`` wherever it appears from now on."""
        if secret.strip():
            self._secrets.add(secret.strip())
            self._spellings = _ordered_spellings(frozenset(self._secrets))

    def text(self, text: str) -> str:
        """``text`` with every known and every recognisable secret masked."""
        return redact_text(text, self._secrets)

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        if self._plain(event_dict):
            return event_dict
        secrets = list(self._secrets)
        out: EventDict = {}
        for key, value in event_dict.items():
            # The common cases first: no secret hides in None, a flag or a number, and a
            # string under an ordinary key needs only the text masks.
            if value is None or isinstance(value, bool):
                out[key] = value
            elif isinstance(value, int | float):
                out[key] = MASK if is_secret_key(key) else value
            elif isinstance(value, str) and not is_secret_key(key):
                out[key] = redact_text(value, secrets)
            else:
                out[key] = _redact_item(key, value, secrets)
        return out

    def _plain(self, event_dict: EventDict) -> bool:
        """Whether the event surely holds nothing to mask: only strings, numbers, flags and
        None under ordinary keys, and no string with a known secret or a secret's shape.

        Most events are plain, and one test over all their strings at once costs a fraction
        of masking them one by one. Whatever one of the strings shows (a known secret, a
        shape's hint word), the joined text shows too, so this test never passes an event
        that masking would change; the NUL between strings keeps their ends from forming a
        hint word together."""
        if not self._ordinary_keys.issuperset(event_dict):
            if any(is_secret_key(key) for key in event_dict):
                return False
            self._ordinary_keys.update(event_dict)
        texts = []
        for value in event_dict.values():
            if isinstance(value, str):
                texts.append(value)
            elif not (value is None or isinstance(value, int | float)):
                return False
        joined = "\0".join(texts)
        return not _maybe_shaped(joined) and not any(s in joined for s in self._spellings)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"
