"""Run settings as frozen values, with the defaults a manifest and the flags start from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

DEFAULT_RATE_LIMIT = 10.0
DEFAULT_MAX_IN_FLIGHT = 50
DEFAULT_MAX_IN_FLIGHT_PER_PROJECT = 5
DEFAULT_TIMEOUT = 30 * 60.0
DEFAULT_POLL_INITIAL_DELAY = 150.0
DEFAULT_POLL_INTERVAL = 20.0
DEFAULT_POLL_MAX_INTERVAL = 60.0
DEFAULT_POLL_BACKOFF = 1.5
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_RETRY_ATTEMPTS = 8
DEFAULT_RETRY_BASE_DELAY = 0.5
DEFAULT_RETRY_MAX_DELAY = 60.0


@dataclass(frozen=True)
class PollSettings:
    """When to look at a creation job: first after ``initial_delay``, then every ``interval``
    growing by ``backoff`` per poll up to ``max_interval``."""

    initial_delay: float = DEFAULT_POLL_INITIAL_DELAY
    interval: float = DEFAULT_POLL_INTERVAL
    max_interval: float = DEFAULT_POLL_MAX_INTERVAL
    backoff: float = DEFAULT_POLL_BACKOFF

    def scaled(self, factor: float) -> PollSettings:
        """The same schedule on a time scale ``factor`` times as fast (backoff unchanged)."""
        return replace(
            self,
            initial_delay=self.initial_delay * factor,
            interval=self.interval * factor,
            max_interval=self.max_interval * factor,
        )


@dataclass(frozen=True)
class RetrySettings:
    """How calls whose failure is transient are retried: attempts and exponential backoff."""

    attempts: int = DEFAULT_RETRY_ATTEMPTS
    base_delay: float = DEFAULT_RETRY_BASE_DELAY
    max_delay: float = DEFAULT_RETRY_MAX_DELAY


@dataclass(frozen=True)
class Settings:
    """Everything that shapes a run; manifest ``settings`` then CLI flags override the defaults."""

    rate_limit: float = DEFAULT_RATE_LIMIT
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    max_in_flight_per_project: int = DEFAULT_MAX_IN_FLIGHT_PER_PROJECT
    timeout: float = DEFAULT_TIMEOUT
    poll: PollSettings = field(default_factory=PollSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT

    def problems(self) -> list[tuple[str, str]]:
        """Combinations of values that cannot work together, as (key path, message) pairs."""
        out = []
        if self.poll.max_interval < self.poll.interval:
            out.append(
                (
                    "poll.maxInterval",
                    f"must be at least poll.interval ({self.poll.interval:g}s), "
                    f"got {self.poll.max_interval:g}s",
                )
            )
        if self.retry.max_delay < self.retry.base_delay:
            out.append(("retry.maxDelay", "must be at least retry.baseDelay"))
        return out

    def to_report(self) -> dict[str, Any]:
        """The settings as the report shows them, under the manifest's key names."""
        raw = asdict(self)
        return {
            "rateLimit": raw["rate_limit"],
            "maxInFlight": raw["max_in_flight"],
            "maxInFlightPerProject": raw["max_in_flight_per_project"],
            "timeout": raw["timeout"],
            "poll": {
                "initialDelay": self.poll.initial_delay,
                "interval": self.poll.interval,
                "maxInterval": self.poll.max_interval,
                "backoff": self.poll.backoff,
            },
            "retry": {
                "attempts": self.retry.attempts,
                "baseDelay": self.retry.base_delay,
                "maxDelay": self.retry.max_delay,
            },
            "requestTimeout": self.request_timeout,
        }
