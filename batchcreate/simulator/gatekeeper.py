"""The simulator's gateway and IAM: who may call, checked the way the real services do.

- A fixed token (``--token``) in ``X-Auth-Token``.
- AK/SK signatures (``--ak``/``--sk``), verified over the headers that ``SignedHeaders``
  names, within the 15-minute clock window; temporary keys must also carry their
  ``X-Security-Token``.
- IAM users (``--iam-user``/``--iam-password``) exchange a password for a token at
  ``POST /v3/auth/tokens`` (in ``X-Subject-Token``), which expires after ``token_lifetime``.

Anything else is a 401 ``APIGW.0301``. With nothing configured, nobody is checked.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from batchcreate.clock import Clock
from batchcreate.iam import SUBJECT_TOKEN_HEADER
from batchcreate.signing import SECURITY_TOKEN_HEADER, parse_authorization, verify
from batchcreate.wire import Request

DEFAULT_TOKEN_LIFETIME = 24 * 3600.0


@dataclass(frozen=True)
class AuthConfig:
    """Whom the simulator lets in; empty means everyone."""

    token: str | None = None
    #: AK to SK.
    access_keys: Mapping[str, str] = field(default_factory=dict)
    #: AK to the security token a temporary key must present.
    security_tokens: Mapping[str, str] = field(default_factory=dict)
    #: IAM user name to password.
    iam_users: Mapping[str, str] = field(default_factory=dict)
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME

    @property
    def enabled(self) -> bool:
        return bool(self.token or self.access_keys or self.iam_users)

    def __repr__(self) -> str:
        return (
            f"AuthConfig(token={'***' if self.token else None}, "
            f"access_keys={sorted(self.access_keys)}, iam_users={sorted(self.iam_users)}, "
            f"token_lifetime={self.token_lifetime:g})"
        )


Denial = tuple[int, dict[str, Any]]


def _denied(message: str) -> Denial:
    return 401, {
        "error_code": "APIGW.0301",
        "error_msg": f"Incorrect IAM authentication information: {message}",
    }


class Gatekeeper:
    """Checks each call's credentials and issues IAM tokens."""

    def __init__(self, config: AuthConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self._issued: dict[str, float] = {}  # token to its expiry (monotonic)
        self.tokens_issued = 0
        self.rejections = 0

    def check(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Denial | None:
        """None when the call may proceed, else the 401 to answer with."""
        if not self.config.enabled:
            return None
        lowered = {k.lower(): v for k, v in headers.items()}
        token = lowered.get("x-auth-token")
        if token is not None:
            return self._count(self._check_token(token))
        if "authorization" in lowered and self.config.access_keys:
            request = Request(method, target, dict(headers), body)
            now = dt.datetime.fromtimestamp(self.clock.time(), tz=dt.UTC)
            problem = verify(request, self.config.access_keys, now=now)
            if problem is None:
                problem = self._check_security_token(lowered)
            return self._count(
                None if problem is None else _denied(f"verify aksk signature fail: {problem}")
            )
        return self._count(_denied("no credentials"))

    def _count(self, denial: Denial | None) -> Denial | None:
        if denial is not None:
            self.rejections += 1
        return denial

    def _check_token(self, token: str) -> Denial | None:
        if self.config.token is not None and secrets.compare_digest(token, self.config.token):
            return None
        expiry = self._issued.get(token)
        if expiry is None:
            return _denied("decrypt token fail")
        if self.clock.monotonic() >= expiry:
            return _denied("the token has expired")
        return None

    def _check_security_token(self, lowered: Mapping[str, str]) -> str | None:
        auth = parse_authorization(lowered.get("authorization"))
        required = self.config.security_tokens.get(auth.access_key) if auth else None
        if required is None:
            return None
        given = lowered.get(SECURITY_TOKEN_HEADER.lower())
        if given is None or not secrets.compare_digest(given, required):
            return "temporary key without its security token"
        return None

    def issue_token(self, body: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Answer ``POST /v3/auth/tokens``: (status, extra headers, body)."""
        try:
            data = json.loads(body)
            user = data["auth"]["identity"]["password"]["user"]
            name, password = user["name"], user["password"]
            scope = data["auth"]["scope"]["project"]
        except (ValueError, KeyError, TypeError):
            return 400, {}, {"error": {"code": 400, "message": "The request body is invalid."}}
        expected = self.config.iam_users.get(name)
        if expected is None or not secrets.compare_digest(str(password), expected):
            self.rejections += 1
            return (
                401,
                {},
                {
                    "error": {
                        "code": 401,
                        "message": "The username or password is wrong.",
                        "title": "Unauthorized",
                    }
                },
            )
        token = "MII" + secrets.token_urlsafe(48)
        lifetime = self.config.token_lifetime
        self._issued[token] = self.clock.monotonic() + lifetime
        self.tokens_issued += 1
        issued = dt.datetime.fromtimestamp(self.clock.time(), tz=dt.UTC)
        expires = issued + dt.timedelta(seconds=lifetime)
        return (
            201,
            {SUBJECT_TOKEN_HEADER: token},
            {
                "token": {
                    "methods": ["password"],
                    "issued_at": issued.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                    "expires_at": expires.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                    "user": {"name": name},
                    "project": scope,
                }
            },
        )
