"""One run per report path: an OS lock that dies with its process.

Two cron runs overlapping on the same fleet would race each other's creates and overwrite
each other's report. ``flock`` is released by the kernel when the holder exits, even after
``kill -9``, so a stale lock never blocks a rerun.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from batchcreate.errors import BatchcreateError


class LockedError(BatchcreateError):
    """Another run holds the lock for this report path."""

    code = "run.locked"


def lock_path_for(report: Path) -> Path:
    return report.with_name(report.name + ".lock")


@contextlib.contextmanager
def run_lock(report: Path) -> Iterator[Path]:
    """Hold the lock for ``report`` for the duration of the block, or raise ``LockedError``."""
    path = lock_path_for(report)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise LockedError(
                f"another batchcreate run (pid {holder}) is using the report {report}; "
                f"wait for it to finish, or give this run another --report"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing releases the lock
