"""What a build tells about its runs: one line per run as it finishes, a summary, and ``d2l-report.json``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from .execute.runs import Result
from .files import write_atomic


class Progress:
    """Counts runs as they finish and says so through ``info``; ``summary`` writes the JSON report."""

    def __init__(self, total: int, info: Callable[[str], None]):
        self.total = total
        self.info = info
        self.done: list[Result] = []
        self.started = time.perf_counter()

    def __call__(self, result: Result) -> None:
        self.done.append(result)
        seconds = 0.0 if result.cached else result.seconds
        status = "failed in an earlier build" if result.remembered_failure else result.status
        self.info(f"[{len(self.done)}/{self.total}] {result.run.name} {seconds:.1f} s ({status})")

    def summary(
        self,
        path: Path,
        keys: dict[tuple[str, str], str],
        warm_up_wait: float = 0.0,
        *,
        status: str = "finished",
        error: str | None = None,
        quiet: bool = False,
        partial: dict | None = None,
    ) -> dict:
        """Write the report; ``status`` is "finished", "failed" or "interrupted", ``error`` why;
        ``partial``, what a partial build (ONLY=) builds and leaves (``None``: the whole book)."""
        executed = [r for r in self.done if not r.cached]
        report = {
            "status": status,
            "error": error,
            "runs": len(self.done),
            "executed": sum(1 for r in executed if not r.failure),
            "cached": sum(1 for r in self.done if r.cached and not r.failure),
            "failed": sum(1 for r in self.done if r.failure and not r.interrupted),
            "interrupted": sum(1 for r in self.done if r.interrupted),
            "failed_earlier": sum(1 for r in self.done if r.remembered_failure),
            "execution_seconds": round(sum(r.seconds for r in executed), 3),
            "wall_seconds": round(time.perf_counter() - self.started, 3),
            "warm_up_wait_seconds": round(warm_up_wait, 3),
            "partial": partial,
            "details": [
                {
                    "document": r.run.chapter.docname,
                    "framework": r.run.framework.name,
                    "status": r.status,
                    "cached": r.cached,
                    "seconds": round(r.seconds, 3),
                    "kernel": None if r.cached else r.kernel,
                    "worker": r.worker,
                    "wait_seconds": None if r.waited is None else round(r.waited, 3),
                    "environment": r.environment,
                    "key": keys.get((r.run.chapter.docname, r.run.framework.name)),
                    "error": r.failure.message() if r.failure else None,
                }
                for r in self.done
            ],
        }
        write_atomic(path, json.dumps(report, indent=2, ensure_ascii=False))
        if self.done and not quiet:
            earlier = report["failed_earlier"]
            remembered = f" ({earlier} in an earlier build, not run again: RETRY=1 runs them)" if earlier else ""
            self.info(
                f"execution: {report['executed']} executed, {report['cached']} cached, {report['failed']} failed"
                f"{remembered}; {report['execution_seconds']:.1f} s in kernels, {report['wall_seconds']:.1f} s wall"
            )
        return report
