"""AK/SK request signing (``SDK-HMAC-SHA256``), byte for byte as the official SDK signs.

Pure functions: ``sign`` for a client, ``verify`` for a server (the simulator plays the
gateway with it). ``AkSkAuth`` plugs ``sign`` into the ``Authenticator`` seam.

The canonical form follows ``huaweicloudsdkcore.signer.Signer``: every header present at
signing time is signed (names holding ``_`` excepted), the path is unquoted then each
segment re-quoted with only ``~`` safe plus a trailing ``/``, the query is sorted
``(key, value)`` pairs, and a body whose ``Content-Type`` is not JSON is signed as
``UNSIGNED-PAYLOAD``. The signed request's URL carries the canonical query, as the SDK sends
it, so what the gateway decodes is exactly what was signed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from batchcreate.wire import JSON_CONTENT_TYPE, Request

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
#: The gateway rejects an ``X-Sdk-Date`` further than this from its own clock.
MAX_CLOCK_SKEW = timedelta(minutes=15)
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()

DATE_HEADER = "X-Sdk-Date"
PROJECT_HEADER = "X-Project-Id"
SECURITY_TOKEN_HEADER = "X-Security-Token"
CONTENT_SHA256_HEADER = "X-Sdk-Content-Sha256"
_SIGNED_CONTENT_TYPES = ("application/json", "application/bson")


def _find(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def _put(headers: dict[str, str], name: str, value: str) -> None:
    """Set ``name`` to ``value``, replacing the header under any spelling of its name."""
    for key in [k for k in headers if k.lower() == name.lower()]:
        del headers[key]
    headers[name] = value


def _check_unique(headers: Iterable[str]) -> None:
    seen: dict[str, str] = {}
    for name in headers:
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise ValueError(f"headers {other!r} and {name!r} differ only in case")


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_uri(path: str) -> str:
    """The path as the signer sees it: each segment re-quoted, ending in ``/``."""
    uri = "/".join(quote(segment, safe="~") for segment in unquote(path or "/").split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(query: str) -> str:
    """The query as sorted, percent-encoded ``key=value`` pairs joined with ``&``."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in pairs)


def signed_header_names(headers: Iterable[str]) -> list[str]:
    """Every header name without ``_``, lower-cased and sorted."""
    return sorted(name.lower() for name in headers if "_" not in name)


def payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    """The body's hex SHA-256, or the ``X-Sdk-Content-Sha256`` header's claim if present."""
    if not body:
        return EMPTY_BODY_SHA256
    return _find(headers, CONTENT_SHA256_HEADER) or _sha256_hex(body)


def canonical_request(request: Request, signed_headers: Iterable[str]) -> str:
    """The canonical request over ``signed_headers`` (lower-case names present in the request)."""
    names = list(signed_headers)
    parts = urlsplit(request.url)
    lines = [f"{name}:{(_find(request.headers, name) or '').strip()}\n" for name in names]
    return (
        f"{request.method.upper()}\n{canonical_uri(parts.path)}\n{canonical_query(parts.query)}\n"
        f"{''.join(lines)}\n{';'.join(names)}\n{payload_hash(request.headers, request.body)}"
    )


def string_to_sign(canonical: str, sdk_date: str) -> str:
    """What the HMAC covers: the algorithm, the ``X-Sdk-Date`` and the canonical request's hash."""
    return f"{ALGORITHM}\n{sdk_date}\n{_sha256_hex(canonical.encode())}"


def signature(sk: str, to_sign: str) -> str:
    """Hex HMAC-SHA256 keyed with the SK itself (no key derivation)."""
    return hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def sign(
    request: Request,
    ak: str,
    sk: str,
    *,
    now: datetime,
    project_id: str | None,
    security_token: str | None = None,
) -> Request:
    """``request`` with the signing headers, ``Authorization`` and the canonical query set.

    ``now`` must be timezone-aware; ``project_id`` ``None`` leaves ``X-Project-Id`` out.
    """
    if not ak or not sk:
        raise ValueError("both the AK and the SK are needed to sign")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    _check_unique(request.headers)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    if project_id:
        _put(headers, PROJECT_HEADER, project_id)
    if security_token:
        _put(headers, SECURITY_TOKEN_HEADER, security_token)
    content_type = _find(headers, "Content-Type")
    if content_type is None:
        headers["Content-Type"] = content_type = JSON_CONTENT_TYPE
    if not content_type.startswith(_SIGNED_CONTENT_TYPES):
        _put(headers, CONTENT_SHA256_HEADER, UNSIGNED_PAYLOAD)
    sdk_date = now.astimezone(UTC).strftime(DATE_FORMAT)
    _put(headers, DATE_HEADER, sdk_date)
    parts = urlsplit(request.url)
    if _find(headers, "Host") is None:
        headers["Host"] = parts.netloc.rpartition("@")[2]
    headers = {name: value.strip() for name, value in headers.items()}

    query = canonical_query(parts.query)
    url = f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
    unsigned = Request(request.method, url, headers, request.body, request.kind)
    names = signed_header_names(headers)
    hexsig = signature(sk, string_to_sign(canonical_request(unsigned, names), sdk_date))
    return unsigned.with_headers(
        {
            "Authorization": (
                f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(names)}, Signature={hexsig}"
            )
        }
    )


@dataclass(frozen=True)
class Authorization:
    """The parts of an ``Authorization: SDK-HMAC-SHA256 ...`` header."""

    access_key: str
    signed_headers: tuple[str, ...]
    signature: str

    def __repr__(self) -> str:
        return (
            f"Authorization(access_key={self.access_key!r}, "
            f"signed_headers={self.signed_headers!r}, signature='***')"
        )


def parse_authorization(value: str | None) -> Authorization | None:
    """The parts of an ``SDK-HMAC-SHA256`` authorization header, or ``None`` if it is not one."""
    if not value:
        return None
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            fields[key] = val
    access, names, sig = (fields.get(k, "") for k in ("Access", "SignedHeaders", "Signature"))
    if not (access and names and sig):
        return None
    return Authorization(access, tuple(names.split(";")), sig)


def verify(
    request: Request,
    secret_keys: Mapping[str, str],
    *,
    now: datetime,
    max_skew: timedelta = MAX_CLOCK_SKEW,
) -> str | None:
    """Check a received request's signature as the gateway does: ``None`` if valid, else why.

    ``request.url`` holds the path and query as received (still percent-encoded);
    ``secret_keys`` maps each known AK to its SK. Only the headers that ``SignedHeaders``
    names are covered, so headers added after signing do not matter.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    header = _find(request.headers, "Authorization")
    if header is None:
        return "no Authorization header"
    auth = parse_authorization(header)
    if auth is None:
        return f"Authorization header is not an {ALGORITHM} signature"
    sk = secret_keys.get(auth.access_key)
    if sk is None:
        return f"unknown access key {auth.access_key!r}"
    for required in ("host", DATE_HEADER.lower()):
        if required not in auth.signed_headers:
            return f"SignedHeaders does not include {required}"
    missing = [n for n in auth.signed_headers if _find(request.headers, n) is None]
    if missing:
        return f"signed header {missing[0]} is missing from the request"
    sdk_date = (_find(request.headers, DATE_HEADER) or "").strip()
    try:
        signed_at = datetime.strptime(sdk_date, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return f"{DATE_HEADER} {sdk_date!r} is not in the format {DATE_FORMAT}"
    skew = abs(now - signed_at)
    if skew > max_skew:
        return (
            f"{DATE_HEADER} {sdk_date} is {skew.total_seconds():.0f} s from the server clock "
            f"(at most {max_skew.total_seconds():.0f} s allowed)"
        )
    claimed = (_find(request.headers, CONTENT_SHA256_HEADER) or "").strip()
    if request.body and claimed and claimed not in (UNSIGNED_PAYLOAD, _sha256_hex(request.body)):
        return f"the body does not match {CONTENT_SHA256_HEADER}"
    canonical = canonical_request(request, auth.signed_headers)
    expected = signature(sk, string_to_sign(canonical, sdk_date))
    if not hmac.compare_digest(expected.encode(), auth.signature.lower().encode()):
        return "signature mismatch"
    return None


def _mask(value: str) -> str:
    return value[:4] + "***" if len(value) > 8 else "***"


class AkSkAuth:
    """Signs every call with an access key pair; a security token makes the pair temporary."""

    def __init__(
        self,
        ak: str,
        sk: str,
        *,
        security_token: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not ak.strip() or not sk.strip():
            raise ValueError("the AK and the SK must both be non-empty")
        self._ak = ak.strip()
        self._sk = sk.strip()
        self._security_token = (security_token or "").strip() or None
        self._wall_clock = wall_clock

    async def authenticate(self, request: Request, project_id: str) -> Request:
        now = datetime.fromtimestamp(self._wall_clock(), tz=UTC)
        return sign(
            request,
            self._ak,
            self._sk,
            now=now,
            project_id=project_id,
            security_token=self._security_token,
        )

    async def refresh(self, project_id: str) -> bool:
        return False  # a key pair cannot be renewed, and retried 401s lock it

    def describe(self) -> str:
        return "temporary ak/sk" if self._security_token else "ak/sk"

    def __repr__(self) -> str:
        token = ", security_token='***'" if self._security_token else ""
        return f"AkSkAuth(ak={_mask(self._ak)!r}, sk='***'{token})"
