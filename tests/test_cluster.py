"""A book's runs on a Dask cluster (``d2l_executor``): real schedulers and worker processes.

``dask-local:N`` builds start a ``distributed.LocalCluster`` of their own; the ``cluster``
fixture starts what the README tells a team to start: ``dask scheduler`` and two ``dask worker``
processes, one of them offering ``GPU=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dask
import psutil
import pytest
from conftest import REPO, book_build, build, copy_book, start_build, write_book
from test_bad_input import dying_kernel, error_lines
from test_environments import CHAPTER as OLD_CHAPTER
from test_environments import CONF as OLD_CONF
from test_environments import LIB as OLD_LIB
from test_environments import OLD_REQUIREMENTS
from test_environments import outputs as tab_outputs

DASK = Path(sys.executable).with_name("dask")
GPU_TORCH = '\nd2l_frameworks["torch"]["resources"] = {"GPU": 1}\n'


def details(root: Path) -> list[dict]:
    return json.loads((root / "_build" / "d2l-report.json").read_text())["details"]


def executed(root: Path) -> int:
    return json.loads((root / "_build" / "d2l-report.json").read_text())["executed"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Cluster:
    address: str
    folder: Path
    workers: dict[str, str]
    """Worker name (cpu, gpu) -> address."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``dask scheduler`` and two ``dask worker`` processes (one offering GPU=1), as the README says."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("cluster")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "2",  # d2l_retries' default
        "D2L_WORKER_ENVIRONMENTS": str(folder / "environments"),
    }
    quiet = {"stdout": subprocess.DEVNULL, "stderr": open(folder / "cluster.log", "w"), "env": env, "cwd": folder}  # noqa: SIM115
    commands = [[str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    for name, extra in (("cpu", []), ("gpu", ["--resources", "GPU=1"])):
        commands.append(
            [str(DASK), "worker", address, "--name", name, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"]
            + ["--local-directory", str(folder / name), *extra]
        )
    processes = []
    try:
        for command in commands:
            processes.append(subprocess.Popen(command, **quiet))
            time.sleep(0.5 if len(processes) == 1 else 0)
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            workers = {info["name"]: where for where, info in client.scheduler_info()["workers"].items()}
        yield Cluster(address, folder, workers)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(30)


def worker_kernels(folder: Path) -> list[int]:
    """Kernels running on the cluster's workers: processes forked by a fork server (which the
    workers of the machine share) whose output goes to the log folder of a worker whose folder
    is in ``folder``."""
    found = []
    for process in psutil.process_iter():
        try:
            parent = process.parent()
            if parent is None or not any("forkserver.py" in part for part in parent.cmdline()):
                continue
            if os.readlink(f"/proc/{process.pid}/fd/1").startswith(str(folder)):
                found.append(process.pid)
        except (psutil.Error, OSError):
            continue
    return found


def worker_of(kernel: int) -> psutil.Process:
    """The worker process a kernel runs for: its output goes to that worker's log folder
    (``logs/worker-PID``); its parent is the fork server the machine's workers share."""
    log = Path(os.readlink(f"/proc/{kernel}/fd/1"))
    return psutil.Process(int(log.parent.name.removeprefix("worker-")))


# ---------------------------------------------------------------- the same site, one cache


def test_a_cluster_build_gives_the_pages_of_a_local_build_and_shares_its_cache(tmp_path, basic_build):
    root = copy_book("basic", tmp_path / "cluster")
    on_cluster = build(root, "-D", "d2l_executor=dask-local:2")
    assert on_cluster.returncode == 0, on_cluster.output
    assert "started a Dask cluster of 2 worker processes on this machine" in on_cluster.output
    assert "executing 4 runs on the Dask cluster dask-local:2 (2 workers)" in on_cluster.output
    runs = details(root)
    assert {run["status"] for run in runs} == {"executed"}
    assert all(run["worker"].startswith("tcp://127.0.0.1:") and run["wait_seconds"] >= 0 for run in runs)
    assert all(run["seconds"] > 0 and run["environment"] for run in runs)
    for page in ("chapter", "lib", "api"):
        assert (on_cluster.html / f"{page}.html").read_bytes() == (basic_build.html / f"{page}.html").read_bytes()
    assert on_cluster.kernels_left == []

    # The local pool after the cluster: nothing runs again.
    local = build(root)
    assert local.returncode == 0, local.output
    assert "executing" not in local.output and executed(root) == 0

    # The cluster after a local build: nothing runs, no cluster is started.
    other = copy_book("basic", tmp_path / "local")
    assert build(other).returncode == 0
    again = build(other, "-D", "d2l_executor=dask-local:2")
    assert again.returncode == 0, again.output
    assert "executing" not in again.output and executed(other) == 0
    assert "Dask" not in again.output


def test_section_11_1_built_on_a_cluster_is_the_local_page(tmp_path, real_book):
    on_cluster = book_build(tmp_path, "-D", "d2l_executor=dask-local:2")
    page = "chapter_optimization/optimization-intro.html"
    assert (on_cluster.html / page).read_bytes() == (real_book.html / page).read_bytes()
    workers = {run["worker"] for run in details(tmp_path)}
    assert len(workers) == 2  # both workers took runs


# ---------------------------------------------------------------- routing


def test_a_framework_needing_a_gpu_that_no_worker_offers_stops_the_build_in_seconds(tmp_path):
    root = copy_book("basic", tmp_path)
    with open(root / "conf.py", "a") as conf:
        conf.write(GPU_TORCH)
    started = time.monotonic()
    result = build(root, "-D", "d2l_executor=dask-local:1")
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert (
        "framework 'torch' needs the Dask worker resources GPU=1, which no worker of the cluster at dask-local:1 "
        "offers: start one with `dask worker"
    ) in line


def test_a_gpu_framework_runs_on_the_gpu_worker_and_the_others_elsewhere(tmp_path, cluster):
    root = copy_book("basic", tmp_path)
    with open(root / "conf.py", "a") as conf:
        conf.write(GPU_TORCH)
    result = build(root, "-D", f"d2l_executor={cluster.address}")
    assert result.returncode == 0, result.output
    ran = {(run["document"], run["framework"]): run["worker"] for run in details(root)}
    assert len(ran) == 4
    assert {worker for (_, framework), worker in ran.items() if framework == "torch"} == {cluster.workers["gpu"]}
    assert {worker for (_, framework), worker in ran.items() if framework == "numpy"} == {cluster.workers["cpu"]}


def test_an_unreachable_scheduler_is_one_line_within_the_connect_timeout(tmp_path):
    root = copy_book("basic", tmp_path)
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
        result = build(root, "-D", f"d2l_executor={address}")
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    (line,) = error_lines(result.output)
    assert f"cannot reach the Dask scheduler at {address} (d2l_executor / EXECUTOR=) within 3s" in line


# ---------------------------------------------------------------- environments


def test_a_framework_with_its_own_environment_runs_in_it_on_the_workers(tmp_path, cluster):
    root = write_book(tmp_path, OLD_CHAPTER, lib=OLD_LIB, conf_extra=OLD_CONF)
    (root / "old.txt").write_text(OLD_REQUIREMENTS)
    result = build(root, "-D", "d2l_selected=numpy,old", "-D", f"d2l_executor={cluster.address}")
    assert result.returncode == 0, result.output
    made = [line for line in result.output.splitlines() if "setting up the Old NumPy environment" in line]
    assert made and made[0].startswith("[Dask worker tcp://127.0.0.1:")
    assert not (root / ".venvs").exists()  # made on the workers, not here
    printed = tab_outputs(result)
    assert printed["old"] == "numpy 1.26.4 package says 42 python True"
    assert printed["numpy"].startswith("numpy 2.") and printed["numpy"].endswith("package says 42 python False")
    runs = {run["framework"]: run for run in details(root) if run["document"] == "chapter"}
    assert runs["old"]["environment"] != runs["numpy"]["environment"]


SERVED_BY = """# Chapter {n}

```{{code-cell}} ipython3
import os, time
time.sleep(1)
print("forked by", os.getppid())
```
"""


def test_the_workers_of_one_machine_share_one_fork_server_per_framework(tmp_path):
    root = write_book(tmp_path, SERVED_BY.format(n=0))
    names = [f"chapter{n}" for n in range(4)]
    for n, name in enumerate(names):
        (root / f"{name}.md").write_text((root / "chapter.md").read_text().replace("Chapter 0", f"Chapter {n}"))
    (root / "chapter.md").unlink()
    (root / "index.md").write_text("# Book\n\n```{toctree}\n" + "\n".join(names) + "\n```\n")
    result = build(root, "-D", "d2l_selected=numpy", "-D", "d2l_executor=dask-local:2")
    assert result.returncode == 0, result.output
    assert len({run["worker"] for run in details(root)}) == 2  # both workers ran chapters
    servers = {result.page(name).select(".cell_output")[0].get_text().split()[-1] for name in names}
    assert len(servers) == 1, servers  # every kernel forked by one process: NumPy imported once


LARGE_FILE = """# Chapter

```{code-cell} ipython3
import os
print(os.path.getsize("data.bin"))
```
"""
#: In conf.py: Dask's offload thread started, as in a process that already used a cluster and
#: received a large message (it deserialises those beside its event loop).
OFFLOAD_USED = "from distributed import utils as _u\n_u._offload_executor.submit(lambda: None).result()"


def test_a_cluster_started_by_a_process_that_used_dask_before_takes_large_files(tmp_path):
    """Workers forked from such a process would have Dask's offload executor without its thread,
    and wait forever for a message over 10 MB (a file the chapter ships): they start afresh
    then, and the build ends."""
    root = write_book(tmp_path, LARGE_FILE, conf_extra=OFFLOAD_USED)
    (root / "data.bin").write_bytes(os.urandom(11 * 2**20))
    result = build(root, "-D", "d2l_selected=numpy", "-D", "d2l_executor=dask-local:1", process=True, timeout=60)
    assert result.returncode == 0, result.output
    (run,) = details(root)
    assert run["status"] == "executed", run
    assert result.page("chapter").select(".cell_output")[0].get_text().strip() == str(11 * 2**20)


# ---------------------------------------------------------------- failures

SLEEPER = """# Chapter

```{{code-cell}} ipython3
import os, time
open(os.path.join({folder!r}, f"started-{{os.getpid()}}"), "w").close()
if os.path.exists(os.path.join({folder!r}, "sleep")):
    time.sleep({seconds})
print("slept")
```
"""


def kill_worker_of_first_kernel(folder: Path, killed: list[int]) -> None:
    """Once a kernel is in the cell: kill the worker process it runs for, as the machine's
    out-of-memory killer would."""
    for _ in range(600):
        started = sorted(folder.glob("started-*"))
        if started:
            worker = worker_of(int(started[0].name.removeprefix("started-")))
            killed.append(worker.pid)
            worker.kill()
            return
        time.sleep(0.1)


def test_a_failed_cluster_build_ends_with_its_error_lines_alone(tmp_path, monkeypatch):
    """Runs that fail on a LocalCluster the build started: the build stops on its error lines,
    its cluster closed before the process exits (not by distributed's exit handler, which
    printed a traceback while the build's own close was under way)."""
    conf = f"d2l_frameworks['dying'] = {dying_kernel(tmp_path, monkeypatch)}"
    root = write_book(tmp_path / "book", "# Chapter\n\n```{code-cell} ipython3\nprint(1)\n```\n", conf_extra=conf)
    names = [f"chapter{n}" for n in range(8)]
    for name in names:
        shutil.copy(root / "chapter.md", root / f"{name}.md")
    (root / "chapter.md").unlink()
    (root / "index.md").write_text("# Book\n\n```{toctree}\n" + "\n".join(names) + "\n```\n")
    result = build(root, "-D", "d2l_selected=numpy,dying", "-D", "d2l_executor=dask-local:2", process=True)
    assert result.returncode == 2
    assert len([line for line in result.output.splitlines() if "[dying] could not run the kernel" in line]) == 8
    assert "Traceback" not in result.output and "Exception ignored" not in result.output, result.output
    assert "distributed" not in result.output, result.output


@pytest.mark.parametrize("retries", [1, 0])
def test_a_run_whose_worker_is_killed_is_retried_on_another(tmp_path, retries):
    flags = tmp_path / "flags"
    flags.mkdir()
    (flags / "sleep").touch()
    root = write_book(tmp_path / "book", SLEEPER.format(folder=str(flags), seconds=4))
    killed: list[int] = []
    killer = threading.Thread(target=kill_worker_of_first_kernel, args=(flags, killed))
    killer.start()
    result = build(root, "-D", "d2l_selected=numpy", "-D", "d2l_executor=dask-local:2", "-D", f"d2l_retries={retries}")
    killer.join()
    assert killed, "no kernel started"
    (run,) = details(root)
    if retries:
        assert result.returncode == 0, result.output
        assert len(list(flags.glob("started-*"))) == 2  # ran again
        assert run["status"] == "executed"
        assert result.page("chapter").select(".cell_output")[0].get_text().strip() == "slept"
    else:
        assert result.returncode == 2
        (line,) = [line for line in error_lines(result.output) if "[numpy]" in line]
        assert "chapter.md:10 [numpy] the Dask worker tcp://127.0.0.1:" in line
        assert "was lost while running it (its process died" in line and "(d2l_retries = 0)" in line
        assert run["status"] == "failed"
    assert result.kernels_left == []


def test_ctrl_c_stops_the_runs_on_the_workers_and_the_cluster_stays_usable(tmp_path, cluster):
    flags = tmp_path / "flags"
    flags.mkdir()
    (flags / "sleep").touch()
    root = write_book(tmp_path / "book", SLEEPER.format(folder=str(flags), seconds=120))
    process = start_build(root, "-D", f"d2l_executor={cluster.address}")
    running: list[int] = []
    for _ in range(600):
        if len(list(flags.glob("started-*"))) == 2:  # both frameworks' kernels are in the cell
            break
        time.sleep(0.1)
    time.sleep(0.3)
    running = worker_kernels(cluster.folder)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=60)[0]
    assert process.returncode != 0 and "Interrupted" in output, output
    in_cells = {int(path.name.removeprefix("started-")) for path in flags.glob("started-*")}
    assert len(in_cells) == 2 and in_cells <= set(running), "the count below would not see the workers' kernels"
    for _ in range(50):
        if not worker_kernels(cluster.folder):
            break
        time.sleep(0.1)
    assert worker_kernels(cluster.folder) == [], "kernels left running on the workers"

    (flags / "sleep").unlink()
    again = build(root, "-D", f"d2l_executor={cluster.address}")
    assert again.returncode == 0, again.output
    assert {run["status"] for run in details(root)} == {"executed"}


# ---------------------------------------------------------------- the settings


def load_with(**options):
    from types import SimpleNamespace

    from d2lext import config

    return config.load(SimpleNamespace(**{**config.defaults(), **options}))


def test_the_executor_setting_takes_local_a_scheduler_or_a_local_cluster():
    assert str(load_with().executor) == "local"
    assert str(load_with(d2l_executor="dask://gpu-head:8786").executor) == "tcp://gpu-head:8786"
    assert str(load_with(d2l_executor="tcp://10.0.0.1:8786").executor) == "tcp://10.0.0.1:8786"
    assert load_with(d2l_executor="dask-local:2").executor.workers == 2
    assert load_with().retries == 2 and load_with(d2l_retries="0").retries == 0
    for wrong in ("dask-local:0", "dask://no-port", "slurm", "dask-local:two"):
        with pytest.raises(Exception, match=r"d2l_executor \(EXECUTOR\) must be 'local', 'dask://HOST:PORT'"):
            load_with(d2l_executor=wrong)
    with pytest.raises(Exception, match="d2l_retries must be a whole number"):
        load_with(d2l_retries="-1")


def test_a_framework_asks_for_worker_resources():
    frameworks = {"torch": {"label": "PyTorch", "resources": {"GPU": 1}}, "numpy": {"label": "NumPy"}}
    loaded = load_with(d2l_frameworks=frameworks).frameworks
    assert loaded["torch"].resources == (("GPU", 1),) and loaded["numpy"].resources == ()
    with pytest.raises(Exception, match=r"\['resources'\] must map Dask worker resources to positive amounts"):
        load_with(d2l_frameworks={"torch": {"label": "PyTorch", "resources": {"GPU": 0}}})


def test_chapters_that_read_each_others_files_are_one_task_upstream_first():
    import nbformat

    from d2lext.config import Framework
    from d2lext.execute.cluster import chains
    from d2lext.execute.runs import Run
    from d2lext.sources.cells import Chapter

    def chapter(name, *depends):
        return Chapter(name, Path(f"/book/{name}.md"), f"{name}.md", nbformat.v4.new_notebook(), [], depends=depends)

    numpy, torch = Framework("numpy", "NumPy"), Framework("torch", "PyTorch")
    data, train, plot, other = chapter("data"), chapter("train", "data"), chapter("plot", "train"), chapter("other")
    runs = [Run(c, f) for c in (plot, other, train, data) for f in (numpy, torch)]
    tasks = sorted([[run.name for run in task] for task in chains(runs)])
    assert tasks == [
        ["data [numpy]", "train [numpy]", "plot [numpy]"],
        ["data [torch]", "train [torch]", "plot [torch]"],
        ["other [numpy]"],
        ["other [torch]"],
    ]
