"""Writing files so that a reader (or a second build) never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a uniquely named temporary file in the same folder.

    Readers see the old file or the new one, never a mix; two writers at once never share a
    temporary file (the last to finish wins).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf8") if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_if_changed(path: Path, data: str | bytes) -> bool:
    """``write_atomic`` unless ``path`` already holds ``data``; whether it wrote."""
    wanted = data.encode("utf8") if isinstance(data, str) else data
    try:
        if path.read_bytes() == wanted:
            return False
    except OSError:
        pass
    write_atomic(path, wanted)
    return True
