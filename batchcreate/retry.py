"""When to try a failed call again, and after how long: pure decisions, no sleeping here."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from batchcreate.errors import ApiError
from batchcreate.settings import RetrySettings


@dataclass
class Backoff:
    """Exponential backoff with full jitter, capped; a server's ``Retry-After`` (on a 429 or a
    503 alike) wins when given, bounded only by the caller's deadline."""

    settings: RetrySettings = field(default_factory=RetrySettings)
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, error: ApiError | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        if error is not None and error.retry_after is not None:
            return error.retry_after  # the server knows best; the caller's deadline bounds it
        ceiling = min(self.settings.max_delay, self.settings.base_delay * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)

    def should_retry(self, attempt: int, error: ApiError) -> bool:
        """True when ``error`` is transient and the attempt budget is not spent."""
        return error.retryable and attempt < self.settings.attempts
