"""One build at a time per build directory: a second build waits for the first, then runs.

Two builds that both executed everything, the older finishing last, could leave a site older than
the sources. An advisory lock (``flock``) on a file in the build directory makes them take turns;
the operating system releases it when a build ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path


class BuildLock:
    """The lock on ``<build>/.d2l.lock``; holds the pid of the build that has it."""

    def __init__(self, path: Path):
        self.path = path
        self._file = None

    def acquire(self, waiting: Callable[[str], None]) -> None:
        """Take the lock; if another build has it, say so through ``waiting`` and wait for it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        stream = open(self.path, "a+")  # noqa: SIM115 (kept open while the lock is held)
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            holder = stream.read().strip() or "unknown"
            waiting(f"waiting for another build of this book (pid {holder}) to finish ...")
            fcntl.flock(stream, fcntl.LOCK_EX)
        stream.seek(0)
        stream.truncate()
        stream.write(str(os.getpid()))
        stream.flush()
        self._file = stream

    def release(self) -> None:
        stream, self._file = self._file, None
        if stream is not None:
            fcntl.flock(stream, fcntl.LOCK_UN)
            stream.close()
