"""Outputs as a reader sees them: in pages, notebooks, notebook archives and the report.

A kernel's outputs are what its process wrote, not what a reader's screen shows:

- a progress bar redrawn with ``\\r`` arrives as one stream message per update; Jupyter shows one
  line. Consecutive pieces of one stream are joined and read as a terminal reads them: ``\\r``
  goes back to the start of the line, the text after it overwrites what is there, ``\\b`` goes
  back one character and ``\\x1b[K`` erases the rest of the line;
- escape sequences other than colours (cursor moves, OSC-8 hyperlinks, window titles) are removed.
  Colours (SGR, ``\\x1b[...m``) stay, since pages render them; the report has none;
- absolute paths of the build machine (tracebacks and warnings from library code) name the
  environment or the book instead: ``<venv>/site-packages/numpy/...``, ``<book>/helper.py``,
  ``<build>/d2l/d2l/torch.py``.

nbclient's ``coalesce_streams`` is of no use here: it joins every piece of a stream in a cell,
moving text past the figures shown between them, it drops a line up to ``\\r`` instead of
overwriting it, and it runs only when a cell finishes (not on a timeout or a dead kernel).

Cleaning is idempotent, so results read from the cache are cleaned the same way (an entry
written before this cleaning is shown cleaned, without running it again).
"""

from __future__ import annotations

import dataclasses as dc
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat

from .runs import Failure, Result

#: A colour or text style: kept in pages.
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
#: Every escape sequence: CSI (cursor moves, erasing, colours), OSC, DCS, SOS, PM and APC strings
#: up to their terminator (BEL or ST), the two-character ones (``\x1b7``, ``\x1b(B``), a lone ESC.
_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]PX^_].*?(?:\x07|\x1b\\|\Z)|\x1b[ -/]*[0-~]|\x1b", re.S)
#: Erase in line: ``\x1b[K`` (to its end), ``\x1b[1K`` (to the cursor), ``\x1b[2K`` (all of it).
_ERASE = re.compile(r"\x1b\[([012]?)K")
#: Control characters a page cannot show (tab, newline, ``\r`` and ``\b`` are handled apart).
_CONTROL = re.compile(r"[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")
_RESET = "\x1b[0m"
#: What a terminal reads one at a time: an escape sequence, or one character.
_TOKEN = re.compile(_SEQUENCE.pattern + "|.", re.S)
_SGR_SPLIT = re.compile(r"(\x1b\[[0-9;:]*m)")


def plain_escapes(text: str, colours: bool = True) -> str:
    """Text without escape sequences and control characters; with ``colours``, SGR codes stay."""
    if "\x1b" not in text and not _CONTROL.search(text):
        return text

    def keep(match: re.Match) -> str:
        return match.group() if colours and _SGR.fullmatch(match.group()) else ""

    return _CONTROL.sub("", _SEQUENCE.sub(keep, text))


def terminal_text(text: str) -> str:
    """Stream text as a terminal shows it: only the final state of each line, colours kept."""
    if "\r" not in text and "\b" not in text and not _ERASE.search(text):
        return plain_escapes(text)
    lines = []
    pen = _NO_COLOUR  # the colours in effect
    for line in text.split("\n"):
        if "\r" not in line and "\b" not in line and not _ERASE.search(line):
            line = plain_escapes(line)
            for code in _SGR.findall(line):
                pen = _after(pen, code)
            lines.append(line)
        else:
            shown, pen = _overwrite(line, pen)
            lines.append(shown)
    return "\n".join(lines)


#: Colours in effect: (foreground, background, other attributes such as bold), as SGR parameters.
_Pen = tuple[str, str, frozenset]
_NO_COLOUR: _Pen = ("", "", frozenset())


def _after(pen: _Pen, code: str) -> _Pen:
    """The colours in effect after the SGR ``code``."""
    foreground, background, attributes = pen
    parameters = code[2:-1].split(";")
    index = 0
    while index < len(parameters):
        parameter = parameters[index] or "0"
        number = int(parameter) if parameter.isdigit() else -1
        if number in (38, 48):  # 38;5;n or 38;2;r;g;b
            width = {"5": 3, "2": 5}.get(parameters[index + 1] if index + 1 < len(parameters) else "", 1)
            value = ";".join(parameters[index : index + width])
            index += width - 1
            foreground, background = (value, background) if number == 38 else (foreground, value)
        elif number == 0:
            foreground, background, attributes = _NO_COLOUR
        elif number == 39 or parameter.startswith("38:"):
            foreground = "" if number == 39 else parameter
        elif number == 49 or parameter.startswith("48:"):
            background = "" if number == 49 else parameter
        elif 30 <= number <= 37 or 90 <= number <= 97:
            foreground = str(number)
        elif 40 <= number <= 47 or 100 <= number <= 107:
            background = str(number)
        elif number == 22:  # neither bold nor faint
            attributes = attributes - {"1", "2"}
        elif 23 <= number <= 29:
            attributes = attributes - {str(number - 20)}
        elif number > 0:
            attributes = attributes | {str(number)}
        index += 1
    return foreground, background, attributes


def _code(pen: _Pen) -> str:
    foreground, background, attributes = pen
    parameters = sorted(attributes, key=lambda attribute: (len(attribute), attribute))
    parameters += [value for value in (foreground, background) if value]
    return f"\x1b[{';'.join(parameters)}m" if parameters else ""


def _switch(current: _Pen, wanted: _Pen) -> str:
    """Codes that change the colours in effect from ``current`` to ``wanted``."""
    if current == wanted:
        return ""
    return (_RESET if current != _NO_COLOUR else "") + _code(wanted)


def _overwrite(line: str, pen: _Pen) -> tuple[str, _Pen]:
    """One line (no newline in it) written to a terminal: what it shows, and the colours after it."""
    start = pen
    cells: list[tuple[_Pen, str, bool]] = []  # (colours, character, erased)
    column = 0
    for token in _TOKEN.findall(line):
        if token == "\r":
            column = 0
        elif token == "\b":
            column = max(column - 1, 0)
        elif _SGR.fullmatch(token):
            pen = _after(pen, token)
        elif erase := _ERASE.fullmatch(token):
            mode = erase.group(1) or "0"
            first, last = {"0": (column, len(cells)), "1": (0, column + 1), "2": (0, len(cells))}[mode]
            for index in range(first, min(last, len(cells))):
                cells[index] = (pen, " ", True)
        elif token.startswith("\x1b") or _CONTROL.fullmatch(token):
            continue  # a cursor move, a hyperlink, a title: nothing shown
        else:
            cells[column : column + 1] = [(pen, token, False)]
            column += 1
    while cells and cells[-1][2]:  # erased to the end of the line: nothing there
        cells.pop()
    shown = []
    current = start
    for colours, character, _ in cells:
        shown.append(_switch(current, colours) + character)
        current = colours
    shown.append(_switch(current, pen))
    return "".join(shown), pen


class Paths:
    """Absolute folders of the build machine and what outputs call them instead.

    A folder matches as a whole path component (``/book`` is not in ``/book2``), the longest
    first, and never inside a colour code.
    """

    def __init__(self, places: Iterable[tuple[Path | str, str]]):
        self.names: dict[str, str] = {}
        for folder, name in places:
            for variant in _variants(folder):
                self.names.setdefault(variant, name)
        ordered = sorted(self.names, key=len, reverse=True)
        alternatives = "|".join(map(re.escape, ordered))
        self._pattern = re.compile(rf"(?<![\w./~-])({alternatives})(?![\w.~-])") if ordered else None

    def __call__(self, text: str) -> str:
        if "/" not in text:
            return text
        pieces = _SGR_SPLIT.split(text)  # colour codes at the odd indices
        for index in range(0, len(pieces), 2):
            piece = _CELL_FILE.sub("<cell>", pieces[index])
            if self._pattern is not None:
                piece = self._pattern.sub(lambda match: self.names[match.group(1)], piece)
            pieces[index] = piece
        return "".join(pieces)


#: The file ipykernel compiles a cell as (a temporary folder and numbers that change with every
#: run), as a warning raised by a cell names it: ``/tmp/ipykernel_8123/3512.py:2: FutureWarning``.
_CELL_FILE = re.compile(r"(?<![\w.~-])(?:/[\w.~-]+)*/ipykernel_\d+/\d+\.py(?![\w.~-])")


def _variants(folder: Path | str) -> list[str]:
    """A folder as given and with its links resolved, without a trailing slash (never ``/``)."""
    given = Path(folder)
    found = [str(given)]
    try:
        found.append(str(given.resolve()))
    except OSError:
        pass
    return [variant for variant in dict.fromkeys(found) if variant.strip("/")]


def python_places(prefix: Path | str) -> list[tuple[Path, str]]:
    """What a Python environment's folders are called in outputs.

    A virtual environment (a folder with ``pyvenv.cfg``) is ``<venv>``, its
    ``lib/pythonX.Y/site-packages`` is ``<venv>/site-packages``, and the standard library of the
    Python it was made from ``<python>/lib/pythonX.Y``. Any other Python (a system one) has only
    its ``lib/pythonX.Y`` named, as ``<python>/lib/pythonX.Y``, its ``site-packages`` as
    ``<python>/site-packages``: the rest of its prefix (``/usr``) holds more than Python.
    """
    prefix = Path(prefix)
    libraries = sorted(path for path in prefix.glob("lib*/python3*") if path.is_dir())
    config = prefix / "pyvenv.cfg"
    places: list[tuple[Path, str]] = []
    if config.is_file():
        places += [(library / "site-packages", "<venv>/site-packages") for library in libraries]
        places.append((prefix, "<venv>"))
        home = _home(config)
        if home is not None:
            base = home.parent
            places += [(base / "lib" / library.name, f"<python>/lib/{library.name}") for library in libraries]
    else:
        for library in libraries:
            places.append((library / "site-packages", "<python>/site-packages"))
            places.append((library, f"<python>/lib/{library.name}"))
    return places


def interpreter_prefix(python: str) -> Path | None:
    """The prefix of an interpreter at ``<prefix>/bin/python`` (as given: a venv's ``python`` is
    a link to its base interpreter)."""
    executable = Path(python)
    return executable.parent.parent if executable.parent.name == "bin" else None


def _home(config: Path) -> Path | None:
    """The ``home`` of a ``pyvenv.cfg``: the folder of the interpreter the environment was made from."""
    try:
        lines = config.read_text(encoding="utf8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return Path(value.strip())
    return None


def book_paths(pythons: Iterable[str], book: Path, build: Path) -> Paths:
    """The places a build's outputs name: the kernels' Python environments and the build's own
    (``sys.prefix``), the book's source folder (``<book>``) and the build folder (``<build>``)."""
    places: list[tuple[Path | str, str]] = [(build, "<build>"), (book, "<book>")]
    prefixes = [Path(sys.prefix)] + [prefix for prefix in map(interpreter_prefix, pythons) if prefix]
    for prefix in dict.fromkeys(prefixes):
        places += python_places(prefix)
    return Paths(places)


def readable_outputs(outputs: list, paths: Paths) -> list:
    """A cell's outputs as a reader sees them: consecutive pieces of one stream joined and read as
    a terminal shows them, escape sequences other than colours removed, machine paths named."""
    joined: list[dict] = []
    for output in outputs:
        output = dict(output)
        kind = output.get("output_type")
        if kind == "stream":
            text = stream_text(output.get("text"))
            last = joined[-1] if joined else None
            if last is not None and last.get("output_type") == "stream" and last.get("name") == output.get("name"):
                last["text"] += text
                continue
            output["text"] = text
        elif kind == "error":
            output["traceback"] = [paths(plain_escapes(line)) for line in output.get("traceback") or []]
            output["evalue"] = paths(plain_escapes(str(output.get("evalue", ""))))
        elif kind in ("execute_result", "display_data") and "text/plain" in (output.get("data") or {}):
            data = dict(output["data"])
            data["text/plain"] = paths(plain_escapes(stream_text(data["text/plain"])))
            output["data"] = data
        joined.append(output)
    cleaned = []
    for output in joined:
        if output.get("output_type") == "stream":
            output["text"] = paths(terminal_text(output["text"]))
            if not output["text"]:
                continue  # only escape codes or carriage returns: nothing to show
        cleaned.append(nbformat.from_dict(output))
    return cleaned


def readable_failure(failure: Failure, paths: Paths) -> Failure:
    """A failure's message as plain text (no escape sequences, no colours), machine paths named."""

    def plain(text: str) -> str:
        return paths(plain_escapes(terminal_text(text), colours=False))

    return dc.replace(failure, summary=plain(failure.summary), traceback=plain(failure.traceback))


def readable_result(result: Result | None, paths: Paths) -> Result | None:
    """A run's outputs and failure as readers see them (in place; ``None`` stays ``None``)."""
    if result is None:
        return None
    result.outputs = {index: readable_outputs(outputs, paths) for index, outputs in result.outputs.items()}
    if result.failure is not None:
        result.failure = readable_failure(result.failure, paths)
    return result


def stream_text(text) -> str:
    """A notebook text field as one string (nbformat allows a list of lines)."""
    return "".join(text) if isinstance(text, list) else (text or "")
