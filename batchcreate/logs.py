"""structlog set up once per process: JSON lines for machines, colourless console for people."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from batchcreate.redact import Redactor

#: Masks every secret the run learns (tokens, SKs, passwords) in every log event. Secrets
#: are added as credentials are resolved and tokens fetched; shapes (``Signature=``,
#: ``X-Auth-Token: ...``) are masked even before.
REDACTOR = Redactor()

LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Send structured events at ``level`` or above to ``stream`` (stderr by default).

    ``fmt`` is ``json`` (one object per line), ``console``, or ``auto``: console on a
    terminal, JSON otherwise (cron, log shippers).
    """
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            REDACTOR,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
