"""Redaction: secrets masked by shape and by value in text, values, headers and log events."""

from __future__ import annotations

import io
import json

import pytest
import structlog

from batchcreate.redact import (
    MASK,
    Redactor,
    is_secret_key,
    redact_headers,
    redact_text,
    redact_value,
)

SK = "SENTINEL-SK-d4e5"
TOKEN = "SENTINEL-TOKEN-f6a7"
PASSWORD = 'SENTINEL pass "word" 8b9c'
SIGNATURE = "5e6cd1761e18722d89f96dee603aa56751ba9dd8b0b9f71ef9803b2f073e84e8"
AUTHORIZATION = (
    f"SDK-HMAC-SHA256 Access=AKTEST, SignedHeaders=host;x-sdk-date, Signature={SIGNATURE}"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: {AUTHORIZATION}", f"Authorization: {AUTHORIZATION[:-64]}{MASK}"),
        ("X-Auth-Token: abc.def", f"X-Auth-Token: {MASK}"),
        ("{'X-Subject-Token': 'abc'}", f"{{'X-Subject-Token': '{MASK}'}}"),
        ('{"password": "a \\"b\\" c", "user": "u"}', f'{{"password": "{MASK}", "user": "u"}}'),
        ("sk=abc&ak=AK1", f"sk={MASK}&ak=AK1"),
        ("security_token: 'xyz'", f"security_token: '{MASK}'"),
        ("Bearer abc.def", f"Bearer {MASK}"),
        ("token MII" + "A" * 200 + " end", f"token MII{MASK} end"),
    ],
)
def test_secrets_are_masked_by_shape(text: str, expected: str) -> None:
    """Secrets recognisable by their key or form are masked without knowing their value."""
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the token expired; fetch a new one",
        "task=3 risk: low disk: 40",
        "Access=AKTEST, SignedHeaders=host",
        "password_env: TEAM_PW",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    """Words that merely mention secrets, or look like their keys, are not masked."""
    assert redact_text(text) == text


def test_known_secrets_are_masked_in_every_spelling() -> None:
    """A known secret is masked as written, JSON-escaped and percent-encoded."""
    text = f"raw {PASSWORD} json {json.dumps(PASSWORD)} url sk%3D{'SENTINEL%20pass'}"

    masked = redact_text(text, [PASSWORD, "SENTINEL pass"])

    assert "SENTINEL" not in masked
    assert masked.startswith(f"raw {MASK} json")


def test_short_known_values_are_not_masked_in_free_text() -> None:
    """A known value shorter than four characters is left alone: masking it would garble logs."""
    assert redact_text("a cab", ["ab"]) == "a cab"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("X-Auth-Token", True),
        ("security_token", True),
        ("securityToken", True),
        ("SK", True),
        ("Authorization", True),
        ("password", True),
        ("passwordEnv", False),
        ("ak", False),
        ("tokens_fetched", False),
    ],
)
def test_secret_keys_are_recognised(key: str, secret: bool) -> None:
    """Keys are compared without case, dashes or underscores."""
    assert is_secret_key(key) is secret


def test_values_are_redacted_recursively() -> None:
    """Mappings, lists and tuples are walked; secret keys masked; other values kept."""
    value = {
        "sk": SK,
        "nested": [{"X-Auth-Token": TOKEN}, ("note", f"used {TOKEN}")],
        "count": 3,
        "ok": True,
        "password": None,
        "token": {"expires_at": "2024-01-02T00:00:00Z"},
    }

    assert redact_value(value, [TOKEN]) == {
        "sk": MASK,
        "nested": [{"X-Auth-Token": MASK}, ("note", f"used {MASK}")],
        "count": 3,
        "ok": True,
        "password": None,
        "token": {"expires_at": "2024-01-02T00:00:00Z"},
    }


def test_objects_whose_repr_shows_a_secret_are_replaced() -> None:
    """An exception carrying a secret becomes its masked repr; harmless objects stay as they are."""
    harmless = ValueError("nothing here")

    assert redact_value(ValueError(f"bad {SK}"), [SK]) == f"ValueError('bad {MASK}')"
    assert redact_value(harmless, [SK]) is harmless
    assert redact_value(f"x {SK}".encode(), [SK]) == f"x {MASK}"


def test_headers_keep_their_useful_parts() -> None:
    """Authorization keeps its key and signed headers; tokens go; ordinary headers stay."""
    headers = {
        "Authorization": AUTHORIZATION,
        "X-Auth-Token": TOKEN,
        "X-Security-Token": TOKEN,
        "Content-Type": "application/json",
        "X-Project-Id": "p1",
    }

    assert redact_headers(headers) == {
        "Authorization": AUTHORIZATION.replace(SIGNATURE, MASK),
        "X-Auth-Token": MASK,
        "X-Security-Token": MASK,
        "Content-Type": "application/json",
        "X-Project-Id": "p1",
    }
    assert redact_headers({"authorization": "Basic dXNlcjpwYXNz"}) == {"authorization": MASK}


def test_redactor_masks_events_and_learns_secrets() -> None:
    """The processor masks secret keys and every learned secret, wherever it appears."""
    redactor = Redactor([SK])
    redactor.add(TOKEN)
    redactor.add("   ")

    event = redactor(
        None,
        "info",
        {"event": "call.retrying", "detail": f"sent {TOKEN} with {SK}", "sk": "other", "n": 1},
    )

    assert event == {
        "event": "call.retrying",
        "detail": f"sent {MASK} with {MASK}",
        "sk": MASK,
        "n": 1,
    }
    assert redactor.text(f"x{SK}y") == f"x{MASK}y"
    assert repr(redactor) == "Redactor(2 secrets)"


def test_redactor_in_a_structlog_chain_keeps_secrets_out_of_output() -> None:
    """Configured after format_exc_info, the redactor masks even tracebacks in rendered JSON."""
    out = io.StringIO()
    redactor = Redactor([SK, PASSWORD])
    structlog.configure(
        processors=[
            structlog.processors.format_exc_info,
            redactor,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=out),
    )
    log = structlog.get_logger()

    try:
        raise RuntimeError(f"login failed for {PASSWORD}")
    except RuntimeError:
        log.exception("auth.failed", sk=SK, headers={"Authorization": AUTHORIZATION})

    written = out.getvalue()
    assert "auth.failed" in written
    assert "login failed for ***" in written
    assert all(secret not in written for secret in (SK, PASSWORD, SIGNATURE))


def test_redactor_passes_plain_events_through_untouched() -> None:
    """An event with nothing to mask comes back as it is (the cheap path), unchanged."""
    redactor = Redactor([SK])
    event = {"event": "cluster.accepted", "cluster": "c-1", "polls": 2, "ok": True, "x": None}
    snapshot = dict(event)

    assert redactor(None, "info", event) is event
    assert event == snapshot


@pytest.mark.parametrize(
    "event",
    [
        {"event": "e", "detail": f"prefix {SK} suffix"},  # a known secret in one value
        {"event": "e", "detail": json.dumps({"v": TOKEN})},  # its JSON spelling
        {"event": "e", "detail": "X-Auth-Token: abc.def"},  # a secret's shape
        {"event": "e", "password": "hunter22"},  # a secret key
        {"event": "e", "token": 12345},  # a secret key over a number
        {"event": "e", "headers": {"X-Auth-Token": "abc"}},  # a nested secret
        {"event": "e", "first": "a", "second": f"b {TOKEN}"},  # the secret not in the first
    ],
)
def test_redactor_masks_whatever_one_value_shows_even_among_plain_ones(
    event: dict[str, object],
) -> None:
    """The cheap path never lets through an event that masking value by value changes."""
    redactor = Redactor([SK, TOKEN])
    out = redactor(None, "info", dict(event))

    rendered = json.dumps(out)
    assert out != event
    assert MASK in rendered
    assert all(secret not in rendered for secret in (SK, TOKEN, "hunter22", "abc.def"))


def test_redactor_does_not_join_values_into_a_hint_word() -> None:
    """Two values that together spell a hint word ("to" + "ken") stay plain and unmasked."""
    redactor = Redactor()
    event = {"event": "e", "a": "x to", "b": "ken=1"}

    assert redactor(None, "info", event) is event
