"""AK/SK signing: the facts-page vectors, agreement with the official SDK signer, and verify()."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from batchcreate.signing import (
    AkSkAuth,
    canonical_uri,
    parse_authorization,
    sign,
    verify,
)
from batchcreate.wire import Request, create_cluster_request, show_job_request

ENDPOINT = "https://cce.cn-north-4.myhuaweicloud.com"
NOW = datetime(2024, 1, 1, tzinfo=UTC)
VECTOR_HEADERS = {"Content-Type": "application/json", "User-Agent": "ua"}
KEYS = {"AKTEST": "SKTEST"}


# ---- the facts page's vectors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        (
            "GET",
            "/api/v3/projects/proj123/jobs/job-1",
            b"",
            "5e6cd1761e18722d89f96dee603aa56751ba9dd8b0b9f71ef9803b2f073e84e8",
        ),
        (
            "GET",
            "/api/v3/projects/proj123/clusters?detail=true&status=Available",
            b"",
            "57b2e653e42f723cca626320ecc611e2163fa4cdecf1d68d5a506411c8767c95",
        ),
        (
            "POST",
            "/api/v3/projects/proj123/clusters",
            b'{"kind": "Cluster"}',
            "42465f1d24c532c3466740a4ff921a851acab38f2114339ac594e1e9c7b7d13b",
        ),
    ],
)
def test_facts_page_vectors_match_byte_for_byte(
    method: str, path: str, body: bytes, expected: str
) -> None:
    """Each test vector on the facts page gives exactly the documented Authorization header."""
    request = Request(method, ENDPOINT + path, VECTOR_HEADERS, body)

    signed = sign(request, "AKTEST", "SKTEST", now=NOW, project_id="proj123")

    assert signed.headers["Authorization"] == (
        "SDK-HMAC-SHA256 Access=AKTEST, "
        "SignedHeaders=content-type;host;user-agent;x-project-id;x-sdk-date, "
        f"Signature={expected}"
    )
    assert signed.headers["Host"] == "cce.cn-north-4.myhuaweicloud.com"
    assert signed.headers["X-Sdk-Date"] == "20240101T000000Z"
    assert signed.headers["X-Project-Id"] == "proj123"


# ---- agreement with the official signer on generated requests -----------------------------

_ODD = " ~é中%+=&@:!$'()*,;/?#\"<>[]^`{|}\\\t"
_PLAIN = "abcXYZ019-._"
_HOSTS = ["cce.cn-north-4.myhuaweicloud.com", "127.0.0.1:8443", "cce.example.internal:80"]
_CONTENT_TYPES = [
    None,
    "application/json",
    "application/json;charset=UTF-8",
    "application/octet-stream",
    "text/plain",
]


def _text(rng: random.Random, longest: int, *, allow_empty: bool = True) -> str:
    alphabet = _PLAIN * 3 + _ODD
    size = rng.randint(0 if allow_empty else 1, longest)
    return "".join(rng.choice(alphabet) for _ in range(size))


def _path(rng: random.Random) -> str:
    segments = ["api", "v3", *(_text(rng, 12) for _ in range(rng.randint(1, 4)))]
    safe = rng.choice(["", "~!$&'()*+,;=:@"])
    path = "/" + "/".join(quote(s, safe=safe) for s in segments)
    if rng.random() < 0.15:
        path += "/%41%2"  # an already-encoded sequence and a stray percent sign
    if rng.random() < 0.2:
        path += "/"
    return path


def _query(rng: random.Random) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for _ in range(rng.randint(0, 5)):
        key = _text(rng, 8, allow_empty=False)
        pairs.append((key, _text(rng, 10)))
        if rng.random() < 0.3:  # the same key again, possibly with an empty value
            pairs.append((key, rng.choice(["", _text(rng, 5)])))
    return pairs


def _body(rng: random.Random) -> bytes:
    size = rng.choice([0, 0, 1, 17, 1000, rng.randint(0, 200_000)])
    if rng.random() < 0.5:
        return rng.randbytes(size)
    return ('{"k": "' + _text(rng, size) + '"}').encode() if size else b""


def _case(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    headers = {"User-Agent": _text(rng, 20)}
    for n in range(rng.randint(0, 3)):
        name = rng.choice([f"X-Custom-{n}", f"X_Under_{n}", f"x-lower-{n}"])
        headers[name] = rng.choice(["", " padded\t", "é中 ünïcode ", _text(rng, 15)])
    content_type = rng.choice(_CONTENT_TYPES)
    if content_type:
        headers["Content-Type"] = content_type
    return {
        "method": rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH"]),
        "host": rng.choice(_HOSTS),
        "path": _path(rng),
        "query": _query(rng),
        "plus_encoding": rng.random() < 0.5,
        "headers": headers,
        "body": _body(rng),
        "ak": "AK" + "".join(rng.choice(_PLAIN) for _ in range(rng.randint(1, 18))),
        "sk": _text(rng, 40, allow_empty=False),
        "project_id": rng.choice([None, "0a1b2c3d4e5f", "proj-" + str(seed)]),
        "token": rng.choice([None, None, "tmp-" + "Zx" * rng.randint(1, 200)]),
        "now": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**8)),
    }


def _ours(case: dict[str, Any]) -> Request:
    query = ""
    if case["query"]:
        via = {} if case["plus_encoding"] else {"quote_via": quote}
        query = "?" + urlencode(case["query"], safe="", **via)
    url = f"https://{case['host']}{case['path']}{query}"
    request = Request(case["method"], url, dict(case["headers"]), case["body"])
    return sign(
        request,
        case["ak"],
        case["sk"],
        now=case["now"],
        project_id=case["project_id"],
        security_token=case["token"],
    )


def _official(case: dict[str, Any]) -> SdkRequest:
    """Sign the way the SDK's client does: Content-Type defaulted, then the credentials sign."""
    headers = dict(case["headers"])
    headers.setdefault("Content-Type", "application/json")
    headers["X-Sdk-Date"] = case["now"].strftime("%Y%m%dT%H%M%SZ")
    request = SdkRequest(
        method=case["method"],
        schema="https",
        host=case["host"],
        resource_path=case["path"],
        query_params=list(case["query"]),
        header_params=headers,
        body=case["body"],
    )
    credentials = BasicCredentials(case["ak"], case["sk"], case["project_id"])
    if case["token"]:
        credentials = credentials.with_security_token(case["token"])
    signed: SdkRequest = credentials.sign_request(request)
    return signed


@pytest.mark.parametrize("batch", range(4))
def test_generated_requests_sign_exactly_like_the_official_sdk(batch: int) -> None:
    """Across 400 generated requests, the Authorization header and sent URI equal the SDK's."""
    for seed in range(batch * 100, batch * 100 + 100):
        case = _case(seed)

        ours = _ours(case)
        theirs = _official(case)

        assert ours.headers["Authorization"] == theirs.header_params["Authorization"], seed
        parts = urlsplit(ours.url)
        sent = parts.path + (f"?{parts.query}" if parts.query else "")
        assert sent == theirs.uri, seed
        assert verify(ours, {case["ak"]: case["sk"]}, now=case["now"]) is None, seed


def test_generated_cases_cover_the_odd_corners() -> None:
    """The generator really produces the awkward inputs the comparison claims to cover."""
    cases = [_case(seed) for seed in range(400)]
    paths = "".join(c["path"] for c in cases)
    pairs = [p for c in cases for p in c["query"]]

    assert all(s in paths for s in ("%20", "~", "%E4%B8%AD", "%25", "//"))
    assert any(v == "" for _, v in pairs)
    assert any(len({k for k, _ in c["query"]}) < len(c["query"]) for c in cases)
    assert any(c["body"] == b"" for c in cases)
    assert any(len(c["body"]) > 50_000 for c in cases)
    assert any(c["token"] for c in cases)
    assert any(c["headers"].get("Content-Type") == "application/octet-stream" for c in cases)


# ---- sign() details ----------------------------------------------------------------------


def test_sign_sets_the_security_token_and_signs_it() -> None:
    """Temporary credentials add X-Security-Token, which is among the signed headers."""
    request = show_job_request(ENDPOINT, "proj123", "job-1")

    signed = sign(request, "AK", "SK", now=NOW, project_id="proj123", security_token=" tmp ")

    assert signed.headers["X-Security-Token"] == "tmp"
    auth = parse_authorization(signed.headers["Authorization"])
    assert auth is not None
    assert "x-security-token" in auth.signed_headers


def test_sign_leaves_the_original_request_alone_and_resigns_cleanly() -> None:
    """sign() returns a new request; signing a signed request replaces its Authorization."""
    request = create_cluster_request(ENDPOINT, "proj123", {"kind": "Cluster"})

    first = sign(request, "AK", "SK", now=NOW, project_id="proj123")
    again = sign(first, "AK", "SK", now=NOW, project_id="proj123")

    assert dict(request.headers) == {"Content-Type": "application/json"}
    assert again.headers["Authorization"] == first.headers["Authorization"]
    assert (again.body, again.kind) == (request.body, "create")


def test_sign_sends_the_canonical_query_and_keeps_the_path() -> None:
    """The query goes out sorted and %-encoded; the path is sent without a trailing slash."""
    request = Request("GET", f"{ENDPOINT}/a%20b/c~d?z=1&a=x+y&a=&flag", {})

    signed = sign(request, "AK", "SK", now=NOW, project_id=None)

    assert signed.url == f"{ENDPOINT}/a%20b/c~d?a=&a=x%20y&flag=&z=1"
    assert "X-Project-Id" not in signed.headers
    assert canonical_uri("/a%20b/c~d") == "/a%20b/c~d/"


def test_sign_puts_the_port_in_host_and_drops_user_info() -> None:
    """Host is the URL's host with its port, never its user name."""
    request = Request("GET", "http://user@127.0.0.1:8080/api/v3/x", {})

    signed = sign(request, "AK", "SK", now=NOW, project_id="p")

    assert signed.headers["Host"] == "127.0.0.1:8080"


def test_sign_rejects_naive_times_missing_keys_and_case_twins() -> None:
    """A naive datetime, an empty SK and two spellings of one header are all refused."""
    request = show_job_request(ENDPOINT, "p", "j")
    twins = Request("GET", ENDPOINT + "/x", {"X-A": "1", "x-a": "2"})

    with pytest.raises(ValueError, match="timezone"):
        sign(request, "AK", "SK", now=datetime(2024, 1, 1), project_id="p")
    with pytest.raises(ValueError, match="AK and the SK"):
        sign(request, "AK", "", now=NOW, project_id="p")
    with pytest.raises(ValueError, match="differ only in case"):
        sign(twins, "AK", "SK", now=NOW, project_id="p")


# ---- verify() ----------------------------------------------------------------------------


def _signed(**changes: Any) -> Request:
    request = create_cluster_request(ENDPOINT, "proj123", {"kind": "Cluster"})
    return sign(request, "AKTEST", "SKTEST", now=NOW, project_id=changes.get("project_id"))


def test_verify_accepts_a_correct_signature() -> None:
    """A request signed with a known key at the server's time verifies."""
    assert verify(_signed(project_id="proj123"), KEYS, now=NOW) is None


def test_verify_rejects_a_tampered_header() -> None:
    """Changing a signed header's value after signing is a signature mismatch."""
    tampered = _signed(project_id="proj123").with_headers({"X-Project-Id": "other"})

    assert verify(tampered, KEYS, now=NOW) == "signature mismatch"


def test_verify_rejects_a_tampered_body_and_path() -> None:
    """A different body or path than the one signed does not verify."""
    signed = _signed(project_id="proj123")
    new_body = Request(signed.method, signed.url, signed.headers, b'{"kind":"Other"}')
    new_path = Request(signed.method, signed.url + "x", signed.headers, signed.body)

    assert verify(new_body, KEYS, now=NOW) == "signature mismatch"
    assert verify(new_path, KEYS, now=NOW) == "signature mismatch"


@pytest.mark.parametrize("offset", [timedelta(minutes=16), timedelta(minutes=-16)])
def test_verify_rejects_a_date_sixteen_minutes_off(offset: timedelta) -> None:
    """A signature 16 minutes from the server clock, either way, is refused with the skew."""
    reason = verify(_signed(project_id="p"), KEYS, now=NOW + offset)

    assert reason == (
        "X-Sdk-Date 20240101T000000Z is 960 s from the server clock (at most 900 s allowed)"
    )


def test_verify_accepts_a_date_exactly_fifteen_minutes_off() -> None:
    """The 15-minute window is inclusive."""
    assert verify(_signed(project_id="p"), KEYS, now=NOW + timedelta(minutes=15)) is None


def test_verify_ignores_a_project_header_added_after_signing() -> None:
    """X-Project-Id set after signing is not in SignedHeaders and does not break verification."""
    signed = _signed(project_id=None).with_headers({"X-Project-Id": "proj123"})

    auth = parse_authorization(signed.headers["Authorization"])
    assert auth is not None
    assert "x-project-id" not in auth.signed_headers
    assert verify(signed, KEYS, now=NOW) is None


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Authorization": None}, "no Authorization header"),
        ({"Authorization": "Basic abc"}, "Authorization header is not an SDK-HMAC-SHA256"),
        (
            {
                "Authorization": "SDK-HMAC-SHA256 Access=AKTEST, SignedHeaders=host;x-sdk-date, "
                "Signature=éé"
            },
            "signature mismatch",
        ),
        (
            {"Authorization": "SDK-HMAC-SHA256 Access=NOPE, SignedHeaders=host, Signature=00"},
            "unknown access key 'NOPE'",
        ),
        (
            {"Authorization": "SDK-HMAC-SHA256 Access=AKTEST, SignedHeaders=host, Signature=00"},
            "SignedHeaders does not include x-sdk-date",
        ),
        ({"Host": None}, "signed header host is missing from the request"),
        ({"X-Sdk-Date": "2024-01-01"}, "X-Sdk-Date '2024-01-01' is not in the format"),
    ],
)
def test_verify_explains_each_kind_of_rejection(
    headers: dict[str, str | None], reason: str
) -> None:
    """Each malformed or incomplete request gets a reason that says what is wrong."""
    signed = _signed(project_id="p")
    kept = {k: v for k, v in signed.headers.items() if k not in headers}
    kept.update({k: v for k, v in headers.items() if v is not None})
    request = Request(signed.method, signed.url, kept, signed.body)

    result = verify(request, KEYS, now=NOW)

    assert result is not None
    assert result.startswith(reason)


def test_verify_checks_a_claimed_body_hash() -> None:
    """An X-Sdk-Content-Sha256 that is neither UNSIGNED-PAYLOAD nor the body's hash fails."""
    request = Request("POST", ENDPOINT + "/x", {"X-Sdk-Content-Sha256": "0" * 64}, b"body")
    signed = sign(request, "AKTEST", "SKTEST", now=NOW, project_id="p")

    assert verify(signed, KEYS, now=NOW) == "the body does not match X-Sdk-Content-Sha256"


def test_unsigned_payload_lets_a_non_json_body_change() -> None:
    """A non-JSON body is signed as UNSIGNED-PAYLOAD, so the gateway does not hash it."""
    request = Request("PUT", ENDPOINT + "/x", {"Content-Type": "text/plain"}, b"one")
    signed = sign(request, "AKTEST", "SKTEST", now=NOW, project_id="p")
    swapped = Request(signed.method, signed.url, signed.headers, b"two")

    assert signed.headers["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"
    assert verify(swapped, KEYS, now=NOW) is None


def test_parsed_authorization_masks_the_signature_in_repr() -> None:
    """Authorization's repr names the key and headers but not the signature."""
    auth = parse_authorization(_signed(project_id="p").headers["Authorization"])

    assert auth is not None
    assert auth.signature not in repr(auth)
    assert "AKTEST" in repr(auth)


# ---- AkSkAuth ----------------------------------------------------------------------------


async def test_ak_sk_auth_signs_at_the_injected_wall_clock_time() -> None:
    """AkSkAuth stamps X-Sdk-Date from its wall clock and signs for the call's project."""
    auth = AkSkAuth("AKTEST", "SKTEST", wall_clock=lambda: NOW.timestamp() + 61)

    signed = await auth.authenticate(show_job_request(ENDPOINT, "proj123", "j"), "proj123")

    assert signed.headers["X-Sdk-Date"] == "20240101T000101Z"
    assert signed.headers["X-Project-Id"] == "proj123"
    assert verify(signed, KEYS, now=NOW + timedelta(seconds=61)) is None
    assert auth.describe() == "ak/sk"


async def test_temporary_ak_sk_auth_sends_its_security_token() -> None:
    """With a security token AkSkAuth sends it and describes itself as temporary."""
    auth = AkSkAuth("AKTEST", "SKTEST", security_token="SENTINEL-TOKEN", wall_clock=NOW.timestamp)

    signed = await auth.authenticate(show_job_request(ENDPOINT, "p", "j"), "p")

    assert signed.headers["X-Security-Token"] == "SENTINEL-TOKEN"
    assert auth.describe() == "temporary ak/sk"


def test_ak_sk_auth_repr_masks_the_secrets() -> None:
    """repr and str of AkSkAuth show neither the SK, the token, nor the whole AK."""
    auth = AkSkAuth("AKIDLONGENOUGH", "SENTINEL-SK", security_token="SENTINEL-TOKEN")

    text = repr(auth) + str(auth)

    assert repr(auth) == "AkSkAuth(ak='AKID***', sk='***', security_token='***')"
    assert "SENTINEL" not in text
    assert "AKIDLONGENOUGH" not in text


@pytest.mark.parametrize(("ak", "sk"), [("", "sk"), ("ak", " "), (" ", "")])
def test_ak_sk_auth_refuses_empty_keys(ak: str, sk: str) -> None:
    """An empty AK or SK is refused at construction."""
    with pytest.raises(ValueError, match="non-empty"):
        AkSkAuth(ak, sk)


async def test_ak_sk_auth_never_offers_a_refresh() -> None:
    """A 401 on a key pair is final: refresh says no, so no signed call is retried in a loop."""
    assert await AkSkAuth("AKTEST", "SKTEST").refresh("p") is False
