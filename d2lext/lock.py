"""One build at a time per build directory: a second build waits for the first, then runs.

Two builds that both executed everything, the older finishing last, could leave a site older than
the sources. A file lock (``filelock``: ``flock`` on Unix) on a file in the build directory makes
them take turns; the operating system releases it when a build ends, however it ends.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock, Timeout


def _write_pid(descriptor: int) -> None:
    """Once the lock is taken: its file holds this build's pid (what a waiting build names)."""
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, str(os.getpid()).encode(), 0)


class BuildLock:
    """The lock on ``<build>/.d2l.lock``; the file holds the pid of the build that has it."""

    def __init__(self, path: Path):
        self.path = path
        # Not per thread: the build may end on another thread than the one that started it.
        self._lock = FileLock(path, thread_local=False, on_acquired=_write_pid)

    def acquire(self, waiting: Callable[[str], None]) -> None:
        """Take the lock; if another build has it, say so through ``waiting`` and wait for it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(blocking=False)
        except Timeout:
            waiting(f"waiting for another build of this book (pid {self._holder()}) to finish ...")
            self._lock.acquire()

    def _holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()
