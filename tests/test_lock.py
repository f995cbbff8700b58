"""The build lock: a second build waits for the first, naming its pid, then takes the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from d2lext.lock import BuildLock

REPO = Path(__file__).resolve().parent.parent
HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from d2lext.lock import BuildLock

    lock = BuildLock(Path(sys.argv[1]))
    lock.acquire(print)
    print("held", flush=True)
    sys.stdin.read()  # until the test closes it
    lock.release()
    """
)


def test_a_waiting_build_names_the_holder_then_takes_the_lock(tmp_path):
    path = tmp_path / "_build" / ".d2l.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        told = []

        def waiting(message: str) -> None:
            told.append(message)
            holder.stdin.close()  # the first build ends

        lock = BuildLock(path)
        lock.acquire(waiting)
        assert told == [f"waiting for another build of this book (pid {holder.pid}) to finish ..."]
        assert path.read_text() == str(os.getpid())  # the file names the new holder
        lock.release()
    finally:
        holder.kill()
        holder.wait()


def test_a_free_lock_is_taken_without_waiting_and_again_after_release(tmp_path):
    path = tmp_path / "_build" / ".d2l.lock"
    told = []
    for _ in range(2):
        lock = BuildLock(path)
        lock.acquire(told.append)
        lock.release()
    assert told == []
    assert path.is_file()
