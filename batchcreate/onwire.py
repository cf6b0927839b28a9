"""When a request goes on the wire: the hook between the client, whose rate limiter counts
calls from that moment, and the transport, which alone can tell when it comes.

The client sets ``ON_WIRE`` around each send; a transport that can tell calls
``mark_on_wire`` as the request's bytes go out. A context variable reaches into aiohttp's
own request code and into the task in which aiohttp writes a request's body.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

#: What the sender of the request being sent wants done as it goes on the wire.
ON_WIRE: ContextVar[Callable[[], None] | None] = ContextVar("batchcreate_on_wire", default=None)


def mark_on_wire() -> None:
    """The request being sent goes on the wire now."""
    callback = ON_WIRE.get()
    if callback is not None:
        callback()
