"""Where each region's CCE API lives."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

REGION_PATTERN = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")

# The one region whose endpoint is not under myhuaweicloud.com (see cce-api-facts.md).
_ENDPOINT_EXCEPTIONS = {"eu-west-101": "https://cce.eu-west-101.myhuaweicloud.eu"}


def cce_endpoint(region: str) -> str:
    """The public CCE endpoint of ``region``."""
    return _ENDPOINT_EXCEPTIONS.get(region, f"https://cce.{region}.myhuaweicloud.com")


def check_endpoint(url: str) -> str:
    """Validate an explicit endpoint override; return it without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint {url!r} must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError(f"endpoint {url!r} must not carry a query or a fragment")
    return url.rstrip("/")
