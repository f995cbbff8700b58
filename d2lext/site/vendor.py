"""Front-end files the site serves itself, installed from their package registry: MathJax.

    python -m d2lext.vendor        # once per environment; `make setup` runs it

Readers may be on networks where public CDNs are slow or blocked, so pages load nothing from a
third party. MathJax comes from the npm registry as a pinned release, checked against the
registry's published digest, and is unpacked into this environment's ``share/d2lext`` folder.
Every book built in the environment copies it into ``_static``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

MATHJAX_VERSION = "3.2.2"
MATHJAX_URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{MATHJAX_VERSION}.tgz"
MATHJAX_INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
#: What a page needs: the combined TeX/MathML component, its input and CommonHTML output (with
#: fonts), and the menu's accessibility parts it loads on demand; and what typesetting at build
#: time in Node needs (``site/math.py``): the loader, the TeX input, the CommonHTML output and
#: the DOM adaptor. Paths under the package's es5/.
MATHJAX_PARTS = (
    *("tex-mml-chtml.js", "input/", "output/chtml/", "ui/", "a11y/", "sre/"),
    *("startup.js", "core.js", "output/chtml.js", "adaptors/"),
)
#: A file of the last parts added: an installation without it is made again.
MATHJAX_NEWEST_PART = "core.js"
#: The script pages load, relative to ``_static``.
MATHJAX_SCRIPT = "mathjax/tex-mml-chtml.js"

ROOT = Path(sys.prefix) / "share" / "d2lext"


def static_dir() -> Path:
    """The folder copied into every site's ``_static`` (holds ``mathjax/``)."""
    return ROOT / "static"


def installed() -> bool:
    """Whether the pinned MathJax is unpacked in this environment."""
    version = static_dir() / "mathjax" / "VERSION"
    return (
        (static_dir() / MATHJAX_SCRIPT).is_file()
        and (static_dir() / "mathjax" / MATHJAX_NEWEST_PART).is_file()
        and version.is_file()
        and version.read_text().strip() == MATHJAX_VERSION
    )


def install_mathjax() -> Path:
    """Download, check and unpack the pinned MathJax; returns its folder."""
    with urllib.request.urlopen(MATHJAX_URL, timeout=120) as response:
        data = response.read()
    algorithm, _, expected = MATHJAX_INTEGRITY.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise SystemExit(f"error: {MATHJAX_URL} does not match its published digest; nothing was installed")
    target = static_dir() / "mathjax"
    with tempfile.TemporaryDirectory(dir=ROOT.parent if ROOT.parent.exists() else None) as scratch:
        unpacked = Path(scratch) / "mathjax"
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():
                name = member.name.removeprefix("package/")
                inner = name.removeprefix("es5/")
                wanted = name == "LICENSE" or (
                    name.startswith("es5/") and any(inner == part or inner.startswith(part) for part in MATHJAX_PARTS)
                )
                if wanted and member.isfile():
                    destination = unpacked / (inner if name.startswith("es5/") else name)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    destination.write_bytes(archive.extractfile(member).read())
        (unpacked / "VERSION").write_text(MATHJAX_VERSION + "\n", encoding="utf8")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(unpacked), target)
    return target


def main() -> int:
    if installed():
        print(f"MathJax {MATHJAX_VERSION} is installed in {static_dir() / 'mathjax'}")
        return 0
    print(f"installing MathJax {MATHJAX_VERSION} from the npm registry")
    print(install_mathjax())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
