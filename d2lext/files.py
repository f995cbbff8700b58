"""Reading the author's files (named as the author knows them), and writing files so that a reader
(or a second build) never sees half of one."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import BookError


def display_path(path: Path) -> str:
    """Path shown in messages: relative to where the build was started, when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_text(path: Path) -> str:
    """A source file's text; a file that is not UTF-8 is a book error naming its first undecodable byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf8")
    except UnicodeDecodeError as error:
        start = data.rfind(b"\n", 0, error.start) + 1  # of the line holding the byte
        line = data.count(b"\n", 0, error.start) + 1
        column = len(data[start : error.start].decode("utf8")) + 1
        raise BookError(
            f"{display_path(path)}:{line}: is not UTF-8 text (undecodable byte 0x{data[error.start]:02x} "
            f"in column {column}); save it as UTF-8"
        ) from None


def umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()`` under the current umask (0644 under umask 022).

    ``mkstemp`` makes its files 0600 whatever the umask; a site or package written through it
    could not be read by a web server running as another user.
    """
    return 0o666 & ~umask()


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a uniquely named temporary file in the same folder.

    Readers see the old file or the new one, never a mix; two writers at once never share a
    temporary file (the last to finish wins). The file gets the mode the umask gives.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, file_mode())
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf8") if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_if_changed(path: Path, data: str | bytes) -> bool:
    """``write_atomic`` unless ``path`` already holds ``data``; whether it wrote.

    An unchanged file written by an earlier version with another mode gets the umask's mode.
    """
    wanted = data.encode("utf8") if isinstance(data, str) else data
    try:
        if path.read_bytes() == wanted:
            mode = file_mode()
            if stat.S_IMODE(path.stat().st_mode) != mode:
                path.chmod(mode)
            return False
    except OSError:
        pass
    write_atomic(path, wanted)
    return True
