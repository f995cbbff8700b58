"""Fork servers: a framework's Python that imported the framework once and forks a fresh kernel for
each chapter.

Starting a kernel and importing PyTorch take about 3 s; forking a process that imported it once,
then starting the kernel in the copy, takes well under a tenth of a second of CPU
(``forkserver.py`` is what runs there).
``ForkServer`` is the build's side of it; ``ForkedProvisioner`` lets jupyter_client manage its
kernels as it manages the ones it starts itself: interrupts and kills (signals to the kernel's
process group), liveness and exit status (which the server, their parent, reports).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.provisioning import LocalProvisioner

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


class _Protocol(asyncio.SubprocessProtocol):
    """The server's output, read by callbacks (not a task: Ctrl-C's cancelling of every task leaves
    it reading, so kernels shut down afterwards still learn that they ended)."""

    def __init__(self, server: ForkServer):
        self.server = server
        self.pending = b""

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:  # not the server's (it writes nothing else there): ignored
                continue
            self.server._received(message)

    def process_exited(self) -> None:
        self.server._lost()


class ForkServer:
    """One framework's fork server: started once per build and framework, closed when the
    framework's runs are done (its kernels are then killed by it)."""

    def __init__(self, command: list[str], modules: list[str], env: dict[str, str], folder: Path, log: Path):
        self.command = command
        self.modules = modules
        self.env = env
        self.folder = folder
        self.log = log
        self.transport: asyncio.SubprocessTransport | None = None
        self.ready: asyncio.Future | None = None
        self.replies: dict[int, asyncio.Future] = {}
        self.statuses: dict[int, int] = {}
        """Exit status of each kernel that ended, as the server (their parent) reported it."""
        self.exited = asyncio.Event()
        self.gone = False
        self.closing = False
        self._ids = itertools.count()

    async def start(self) -> bool:
        """Start the server and wait for its imports; whether it can fork kernels."""
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w") as log:  # what the imports print goes to the server's log
            self.transport, _ = await loop.subprocess_exec(
                lambda: _Protocol(self),
                *self.command,
                "-c",
                BOOTSTRAP,
                str(FORKSERVER),
                json.dumps(self.modules),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self.env,
                cwd=str(self.folder),
                start_new_session=True,  # Ctrl-C reaches the build, which stops the server itself
            )
        try:
            return await asyncio.wait_for(asyncio.shield(self.ready), READY_TIMEOUT)
        except TimeoutError:
            await self.close()
            return False

    def _received(self, message: dict) -> None:
        if "ready" in message:
            if not self.ready.done():
                self.ready.set_result(True)
        elif "exit" in message:
            self.statuses[message["exit"]] = message["status"]
            self.exited.set()
            self.exited.clear()
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
        self.transport.get_pipe_transport(0).write((json.dumps(request) + "\n").encode())
        message = await reply
        if "error" in message:
            raise OSError(f"the fork server could not fork: {message['error']}")
        return message["pid"]

    async def close(self) -> None:
        """Stop the server: it kills the kernels it forked that are still running, then exits.
        Safe to call again (after a close that Ctrl-C cut short)."""
        transport = self.transport
        if transport is None:
            return
        self.closing = True
        if not self.gone:
            transport.get_pipe_transport(0).close()  # end of input: the server's signal to stop
            for _ in range(100):
                if self.gone:
                    break
                await asyncio.sleep(0.05)
            else:
                transport.kill()
        transport.close()
        self.transport = None


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
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
