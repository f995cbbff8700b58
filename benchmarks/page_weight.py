"""What a reader's browser loads for one page of a built site, cold: bytes, requests, DOMContentLoaded.

    python benchmarks/page_weight.py _build/html chapter_optimization/optimization-intro.html
    python benchmarks/page_weight.py SITE PAGE --widths 390 1280 --repeat 3

The site is served from 127.0.0.1 by Python's own server (no compression, as the browser tests
serve it); each load is a fresh chromium profile (Debian's, through Playwright, nothing cached).
Bytes are the bodies and headers of every response the page asked for until the network was idle;
figures below the fold that load lazily are not asked for, as for a reader who has not scrolled.
Prints one line per load, then the heaviest files of the last one.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import statistics
import threading
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def load(page, address: str) -> dict[str, int]:
    """Every response the page asked for until the network was idle: address -> bytes."""
    loaded: dict[str, int] = {}
    page.on("requestfinished", lambda request: loaded.__setitem__(request.url, sum(request.sizes().values())))
    page.goto(address)
    page.wait_for_load_state("networkidle")
    return loaded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("page")
    parser.add_argument("--widths", type=int, nargs="+", default=[390, 1280])
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=arguments.site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_port}/"
    loaded: dict[str, int] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        for width in arguments.widths:
            ready_times = []
            for _ in range(arguments.repeat):
                context = browser.new_context(viewport={"width": width, "height": 844})
                page = context.new_page()
                loaded = load(page, site + arguments.page)
                ready = page.evaluate("() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
                ready_times.append(ready)
                weight = sum(loaded.values())
                print(f"width {width}: {weight} bytes, {len(loaded)} requests, DOMContentLoaded {ready:.0f} ms")
                context.close()
            print(f"width {width}: DOMContentLoaded median {statistics.median(ready_times):.0f} ms")
        browser.close()
    server.shutdown()
    print("heaviest of the last load:")
    for url, size in sorted(loaded.items(), key=lambda item: -item[1])[:8]:
        print(f"  {size:>9}  {url.removeprefix(site)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
