"""Fork servers: a framework's Python that imported the framework once and forks a fresh kernel for
each chapter.

Starting a kernel and importing PyTorch take about 3 s; forking a process that imported it once,
then starting the kernel in the copy, takes well under a tenth of a second of CPU
(``forkserver.py`` is what runs there).
``ForkServer`` is the build's side of it, connected to the server's Unix socket: a server of the
build's own, or one an earlier build kept warm (``d2l_keep_warm``); ``ForkedProvisioner`` lets
jupyter_client manage its kernels as it manages the ones it starts itself: interrupts and kills
(signals to the kernel's process group), liveness and exit status (which the server, their
parent, reports).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.provisioning import LocalProvisioner

from .environments import stamp

#: The server's program. Not run as a script, which would put its folder (this package's, with a
#: ``kernel.py`` in it) on the kernels' path: ``python -c`` runs it, named in the command line.
FORKSERVER = Path(__file__).parent / "forkserver.py"
BOOTSTRAP = "import sys; exec(compile(open(sys.argv[1], encoding='utf8').read(), sys.argv[1], 'exec'))"
#: How a kernel spec starts ipykernel, which the server starts in each forked process instead.
LAUNCHER = ["-m", "ipykernel_launcher"]
#: Seconds the server may take to import the framework before it is given up (kernels are then
#: started as usual, and a failing import shows in the chapter that makes it).
READY_TIMEOUT = 120


def _launcher_at(argv: list[str]) -> int | None:
    """Where ``-m ipykernel_launcher`` is in a kernel's command (after the Python and its options)."""
    for index in range(1, len(argv) - 1):
        if argv[index : index + 2] == LAUNCHER:
            return index
    return None


def server_command(spec: KernelSpec) -> list[str] | None:
    """The Python (with its options) that a fork server for this kernel spec runs in: the spec's
    own, when it starts ipykernel as ``python [options] -m ipykernel_launcher ...`` and is
    interrupted with signals; ``None`` for any other kernel, which is then started as usual."""
    argv = list(spec.argv)
    at = _launcher_at(argv)
    if at is None or spec.interrupt_mode != "signal" or any("{" in option for option in argv[:at]):
        return None
    python = argv[0]
    if python in {"python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        python = sys.executable  # as jupyter_client does when it starts the kernel
    return [python, *argv[1:at]]


class _Protocol(asyncio.Protocol):
    """The server's messages, read by callbacks (not a task: Ctrl-C's cancelling of every task
    leaves it reading, so kernels shut down afterwards still learn that they ended)."""

    def __init__(self, server: ForkServer):
        self.server = server
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:  # not the server's (it writes nothing else there): ignored
                continue
            self.server._received(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._lost()


#: Variables of a build's environment that change nothing a server imports, so that builds that
#: differ only in them share a server kept warm: matplotlib's settings file (its content counts),
#: the book's own (docutils' settings, the book and environments ``make`` names), the build's
#: and a Dask worker's settings (how long servers stay, the worker's folders, its nanny), the
#: shell's, make's and pytest's bookkeeping. ``PYTHONPATH`` counts without the book's package
#: folder. Each kernel gets its own build's values of all of them.
PER_BUILD = frozenset(
    "MATPLOTLIBRC DOCUTILSCONFIG D2L_BOOK D2L_ENVIRONMENTS D2L_KEEP_WARM D2L_WORKER_DIR "
    "D2L_WORKER_ENVIRONMENTS __DASK_PARENT_PID PWD OLDPWD SHLVL _ "
    "MAKEFLAGS MAKELEVEL MFLAGS MAKE_TERMOUT MAKE_TERMERR PYTEST_CURRENT_TEST".split()
)


def servers_folder() -> Path:
    """Where fork servers listen: ``$D2L_SERVERS`` or a folder of this user's in the temporary
    folder, readable by this user only (a server forks a kernel for whoever connects)."""
    folder = Path(os.environ.get("D2L_SERVERS") or Path(tempfile.gettempdir()) / f"d2l-servers-{os.getuid()}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(f"{folder} is not private to this user")
    return folder


class ForkServer:
    """One framework's fork server, as one build uses it: connected when the framework's first kernel
    is wanted, disconnected when its runs are done (its kernels are then killed by the server).

    With ``keep_warm`` seconds, the server outlives the build by that long: a build that wants the
    same server (same Python, imports, environment and contents of that environment) connects to it
    instead of starting one, so live previews and test suites import each framework once. With
    ``shared``, the same even when ``keep_warm`` is 0: the processes that want the same server
    (the Dask workers of one machine) share it, and it ends when the last of them leaves. Without
    either, the server is this build's own and ends with it."""

    def __init__(
        self,
        command: list[str],
        modules: list[str],
        env: dict[str, str],
        folder: Path,
        log: Path,
        keep_warm: float = 0.0,
        package_root: str = "",
        shared: bool = False,
    ):
        self.command = command
        self.modules = modules
        self.env = env
        self.folder = folder
        self.log = log
        self.keep_warm = keep_warm
        self.shared = shared or keep_warm > 0
        self.package_root = package_root
        """The book's package folder on ``PYTHONPATH``: a server kept warm does not have it (each
        kernel gets the path of the build that asked for it)."""
        self.address: Path | None = None
        self.reused = False
        """Whether an earlier build started the server (kept warm)."""
        self.process: asyncio.subprocess.Process | None = None
        """The server, when it is this build's own."""
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future | None = None
        self.replies: dict[int, asyncio.Future] = {}
        self.statuses: dict[int, int] = {}
        """Exit status of each kernel that ended, as the server (their parent) reported it."""
        self.exited = asyncio.Event()
        self.gone = False
        self.closing = False
        self._closed: asyncio.Future | None = None
        self._kept: subprocess.Popen | None = None
        self._ids = itertools.count()

    def _shared_path(self) -> str:
        entries = self.env.get("PYTHONPATH", "").split(os.pathsep)
        return os.pathsep.join(e for e in entries if e and e.rstrip(os.sep) != self.package_root.rstrip(os.sep))

    def key(self) -> str:
        """What a server kept warm must have been started with to serve this build."""
        rc = self.env.get("MATPLOTLIBRC")
        try:
            settings = Path(rc).read_text(encoding="utf8") if rc else ""
        except OSError:
            settings = ""
        env = {name: value for name, value in self.env.items() if name not in PER_BUILD and name != "PYTHONPATH"}
        parts = [self.command, self.modules, env, self._shared_path(), settings, stamp(self.command[0])]
        parts.append(FORKSERVER.read_text(encoding="utf8"))
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]

    async def start(self) -> bool:
        """Connect to the server (started by this build, or kept warm by an earlier one) and wait
        for its imports; whether it can fork kernels."""
        folder = servers_folder()
        if not self.shared:
            self.address = folder / f"{uuid.uuid4().hex[:20]}.sock"
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log, "w") as log:  # what the imports print goes to the server's log
                self.process = await asyncio.create_subprocess_exec(
                    *self._argv(0),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=self.env,
                    cwd=str(self.folder),
                    start_new_session=True,
                )
            return await self._connect(lambda: self.process.returncode) and await self._wait_ready()
        key = self.key()
        self.address = folder / f"{key}.sock"
        for _ in range(2):  # a server kept warm may end (idle) just as this build connects to it
            lock = FileLock(folder / f"{key}.lock")
            while True:  # not one blocking call: Ctrl-C cancels this while it waits
                try:
                    lock.acquire(timeout=0)
                    break
                except Timeout:
                    await asyncio.sleep(0.05)
            try:
                self.reused = await self._connect(None)
                if not self.reused:
                    self._start_kept(folder, key)
                    if not await self._connect(self._kept.poll):
                        return False
            finally:
                lock.release()
            if await self._wait_ready():
                return True
            if not self.reused:
                return False
            self._reset()
        return False

    def _argv(self, linger: float) -> list[str]:
        return [
            *self.command,
            "-c",
            BOOTSTRAP,
            str(FORKSERVER),
            str(self.address),
            json.dumps(self.modules),
            str(linger),
        ]

    def _start_kept(self, folder: Path, key: str) -> None:
        """Start a server that outlives this build (its own session, not this process's child to wait
        for): without the book's package on its path, in the servers' folder, its log beside it."""
        env = dict(self.env)
        env["PYTHONPATH"] = self._shared_path()
        if not env["PYTHONPATH"]:
            del env["PYTHONPATH"]
        rc = self.env.get("MATPLOTLIBRC")
        if rc and Path(rc).exists():
            env["MATPLOTLIBRC"] = str(folder / f"{key}.matplotlibrc")
            shutil.copyfile(rc, env["MATPLOTLIBRC"])
        self.address.unlink(missing_ok=True)  # a server that died: its socket answers no one
        self.log = folder / f"{key}.log"
        with open(self.log, "w") as log:
            self._kept = subprocess.Popen(
                self._argv(self.keep_warm),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=str(folder),
                start_new_session=True,
            )
        _KEPT[:] = [server for server in _KEPT if server.poll() is None]  # reaps those that ended
        _KEPT.append(self._kept)

    async def _connect(self, ended: Callable[[], object] | None) -> bool:
        """Connect to the server's socket; ``ended`` tells whether the server being started has
        exited (``None``: connect only to one already listening)."""
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        deadline = loop.time() + READY_TIMEOUT
        while True:
            try:
                self.transport, _ = await loop.create_unix_connection(lambda: _Protocol(self), str(self.address))
                return True
            except (FileNotFoundError, ConnectionRefusedError):
                if ended is None or ended() is not None or loop.time() > deadline:
                    return False
                await asyncio.sleep(0.02)

    async def _wait_ready(self) -> bool:
        try:
            if await asyncio.wait_for(asyncio.shield(self.ready), READY_TIMEOUT):
                return True
        except TimeoutError:
            pass
        await self.close()
        return False

    def _reset(self) -> None:
        self.transport = None
        self.gone = self.closing = False
        self.exited = asyncio.Event()

    def _received(self, message: dict) -> None:
        if "ready" in message:
            if not self.ready.done():
                self.ready.set_result(True)
        elif "exit" in message:
            self.statuses[message["exit"]] = message["status"]
            self.exited.set()
            self.exited.clear()
        elif "closed" in message:
            if self._closed is not None and not self._closed.done():
                self._closed.set_result(True)
        else:
            if "pid" in message:
                # A new process: an exit status kept under its number belongs to an earlier kernel
                # that had it (numbers are reused; a server on a Dask worker outlives thousands).
                self.statuses.pop(message["pid"], None)
            reply = self.replies.pop(message["id"], None)
            if reply is not None and not reply.done():
                reply.set_result(message)
            elif "pid" in message:  # asked for by a start that was cancelled meanwhile
                _kill(message["pid"])

    def _lost(self) -> None:
        self.gone = True
        if self.ready is not None and not self.ready.done():
            self.ready.set_result(False)
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(False)
        for reply in self.replies.values():
            if not reply.done():
                reply.set_exception(RuntimeError("the fork server ended"))
        self.replies.clear()
        self.exited.set()

    async def fork(self, argv: list[str], folder: str, env: dict[str, str], log: str) -> int:
        """Start a kernel: ipykernel with ``argv``, in ``folder``, with ``env``, its output to ``log``."""
        if self.gone or self.closing or self.transport is None:
            raise RuntimeError("the fork server ended")
        number = next(self._ids)
        reply = self.replies[number] = asyncio.get_running_loop().create_future()
        request = {"id": number, "argv": argv, "cwd": folder, "env": env, "log": log}
        self.transport.write((json.dumps(request) + "\n").encode())
        message = await reply
        if "error" in message:
            raise OSError(f"the fork server could not fork: {message['error']}")
        return message["pid"]

    async def close(self) -> None:
        """Leave the server: it kills the kernels it forked for this build that are still running;
        a server of this build's own then exits. Safe to call again (after a close that Ctrl-C cut
        short)."""
        transport = self.transport
        if transport is not None:
            self.closing = True
            if not self.gone:
                self._closed = asyncio.get_running_loop().create_future()
                transport.write(b'{"close": true}\n')
                try:
                    await asyncio.wait_for(asyncio.shield(self._closed), 10)
                except TimeoutError:
                    pass
            transport.close()
            self.transport = None
        process = self.process
        if process is not None:
            if process.returncode is None:
                try:
                    await asyncio.wait_for(process.wait(), 5)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            self.address.unlink(missing_ok=True)  # the server removes it, unless it was killed


#: Servers this process started to be kept warm: they may outlive it; those that ended are reaped
#: when the next one starts.
_KEPT: list[subprocess.Popen] = []


def _kill(pid: int) -> None:
    """Kill a kernel: its process group, and itself if it has not made its group yet."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


class ForkedProvisioner(LocalProvisioner):
    """jupyter_client's view of a kernel forked by a ``ForkServer`` (``server`` is set before use)."""

    server: ForkServer
    pid: int | None = None
    returncode: int | None = None

    @property
    def has_process(self) -> bool:
        return self.pid is not None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        at = _launcher_at(cmd)
        assert at is not None, cmd
        log = kwargs.get("stdout")
        self.pid = self.pgid = await self.server.fork(
            cmd[at + 2 :],
            str(kwargs.get("cwd") or os.getcwd()),
            dict(kwargs["env"]),
            getattr(log, "name", os.devnull),
        )
        self.cwd = kwargs.get("cwd")
        return self.connection_info

    async def poll(self) -> int | None:
        if self.pid is None:
            return self.returncode if self.returncode is not None else 0
        status = self.server.statuses.get(self.pid)
        if status is None and self.server.gone and not _exists(self.pid):
            status = 1  # ended after its server: no status to tell
        if status is not None:
            self.returncode = status
        return status

    async def exit_status(self, wait: float = 1.0) -> int | None:
        """The kernel's exit status as its server reported it, waiting ``wait`` seconds for it."""
        pid = self.pid
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while pid is not None and pid not in self.server.statuses and not self.server.gone:
            try:
                await asyncio.wait_for(self.server.exited.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
        return self.server.statuses.get(pid) if pid is not None else self.returncode

    async def wait(self) -> int | None:
        while await self.poll() is None:
            await asyncio.sleep(0.05)
        status = await self.poll()
        self.pid = None
        return status

    async def send_signal(self, signum: int) -> None:
        if self.pid is not None:
            try:
                os.killpg(self.pid, signum)  # the kernel leads its own process group
            except ProcessLookupError:  # already gone
                pass

    async def kill(self, restart: bool = False) -> None:
        if self.pid is not None:
            _kill(self.pid)

    async def terminate(self, restart: bool = False) -> None:
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except OSError:
                pass

    async def get_provisioner_info(self) -> dict:
        info = await super().get_provisioner_info()
        info["pid"] = self.pid
        return info


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
