"""Run by the build in a framework's Python: imports the framework once, then forks a fresh kernel
for every chapter.

This file is not imported by the extension: ``forking.py`` runs it with ``python -c`` (the file,
the address of the Unix socket to listen on, the modules to import as JSON, and how many seconds
to stay once no build is connected). Before importing anything it listens on the socket, so a
build can connect at once; a build that connects is told ``{"ready": true}`` once the imports are
done. Then, on each connection, JSON lines: requests to start a kernel (``{"id", "argv", "cwd",
"env", "log"}``) answered with ``{"id", "pid"}`` (or ``{"id", "error"}``); ``{"exit": pid,
"status": code}`` when one of that connection's kernels ends (``status`` as ``Popen.returncode``
gives it: negative for a signal); ``{"close": true}`` answered with ``{"closed": true}`` once that
connection's kernels are killed and reaped. A connection that closes (the build ended, or died)
has its kernels killed. With no build connected and no kernel left for the given seconds (0: as
soon as its last build left), the server exits and removes its socket.

A kernel is this process forked before any chapter ran in it: every chapter finds the framework
imported and nothing another chapter did, and the path (``PYTHONPATH``), folder and environment
its build asked for. Only the standard library and ipykernel are used.
"""

#: What every kernel loads while it starts (the debugger's modules are most of it), loaded once
#: here instead of in every kernel. (runpy: ``python -m`` loads it.)
KERNEL_MODULES = (
    "runpy",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.logger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "faulthandler",
    "pdb",
    "tornado.platform.asyncio",
    # What `%matplotlib inline` loads: the magics' modules build their argument parsers when
    # imported, about a tenth of a small chapter's kernel.
    "IPython.core.magics.execution",
    "IPython.core.magics.pylab",
    "IPython.core.magics.ast_mod",
    "IPython.core.pylabtools",
    "IPython.utils.module_paths",
)
#: What a kernel loads for its first figure (nothing, where matplotlib is not installed).
#: Imported in a process without IPython's shell, matplotlib-inline does not hook itself into
#: the shell as it does when a kernel imports it: the prologue (``prologue.py``) does that in
#: each kernel.
FIGURE_MODULES = (
    "matplotlib_inline.backend_inline",
    "matplotlib.backends.backend_agg",
    "matplotlib.backends.backend_svg",
    "PIL.features",
)
#: Seconds a server started for one build waits for that build to connect.
FIRST_CONNECTION = 30


def _serve(address, modules, linger):
    import errno
    import gc
    import importlib
    import importlib.util
    import json
    import os
    import select
    import signal
    import socket
    import sys
    import time

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(address)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:  # another server took the address first: the build uses it
            sys.exit(3)
        raise
    listener.listen(64)
    ours = os.stat(address).st_ino

    def unlink():
        try:
            if os.stat(address).st_ino == ours:
                os.unlink(address)
        except OSError:
            pass

    # As ipykernel_launcher does: no working folder on the path while loading (IPython puts ''
    # back in each kernel), and the inline backend named before matplotlib reads it.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    # What the imports print (to file descriptor 1 or sys.stdout) goes to the server's log.
    os.dup2(2, 1)
    started_with = dict(os.environ)
    own_path = [entry for entry in started_with.get("PYTHONPATH", "").split(os.pathsep) if entry]
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # The parent ipykernel watches (read when it is imported): a kernel exits if its server dies.
    os.environ["JPY_PARENT_PID"] = str(os.getpid())
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # the chapter that imports it says why
            pass
    for name in (*KERNEL_MODULES, *FIGURE_MODULES):
        try:
            importlib.import_module(name)
        except Exception:
            pass
    try:  # the machine's addresses, which each kernel reads (with psutil) to check its own
        from jupyter_client.localinterfaces import local_ips

        local_ips()
    except Exception:
        pass
    launcher = importlib.util.find_spec("ipykernel_launcher").origin

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *args: None)  # wakes the loop below (set_wakeup_fd)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *args: stopping.append(True))
    connections = {}  # socket -> [bytes not yet read as a line, the pids of its kernels]
    owners = {}  # pid -> the connection it was forked for

    def say(connection, message):
        try:
            connection.sendall((json.dumps(message) + "\n").encode())
        except OSError:  # that build is gone: its end is seen when its socket is read
            pass

    def on_path(request_path):
        """The path the build asked for in place of the one this server started with."""
        entries = [entry for entry in request_path.split(os.pathsep) if entry]
        at = next((index for index, entry in enumerate(sys.path) if entry in own_path), 0)
        rest = [entry for entry in sys.path if entry not in own_path]
        return rest[:at] + entries + rest[at:]

    def spawn(request):
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:  # the kernel: nothing of the server's loop, its own session, files and environment
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            for descriptor in (wake_read, wake_write):
                os.close(descriptor)
            listener.close()
            for connection in connections:
                connection.close()
            null = os.open(os.devnull, os.O_RDONLY)
            log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(null)
            os.close(log)
            os.chdir(request["cwd"])
            # The kernel's environment, with what the imports set in it (the debugger's settings).
            imported = {name: value for name, value in os.environ.items() if started_with.get(name) != value}
            os.environ.clear()
            os.environ.update(request["env"])
            os.environ.update(imported)
            sys.path[:] = on_path(request["env"].get("PYTHONPATH", ""))
            sys.path_importer_cache.clear()
            sys.argv = [launcher, *request["argv"]]
            from ipykernel import kernelapp

            kernelapp.launch_new_instance(argv=request["argv"])
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def ended(pid, status):
        connection = owners.pop(pid, None)
        if connection in connections:
            connections[connection][1].discard(pid)
            say(connection, {"exit": pid, "status": status})

    def reap():
        while owners:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            ended(pid, os.waitstatus_to_exitcode(status))

    def kill_all(pids):
        """Kill these kernels and wait for them to end."""
        for pid in pids:  # its group (what it started), and itself if it has not made the group yet
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for pid in list(pids):
            try:
                code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            except ChildProcessError:  # reaped already
                code = -signal.SIGKILL
            ended(pid, code)

    def drop(connection):
        kill_all(list(connections.pop(connection)[1]))
        connection.close()

    def handle(connection, request):
        if request.get("close"):
            kill_all(list(connections[connection][1]))
            say(connection, {"closed": True})
            return
        try:
            pid = spawn(request)
        except OSError as error:
            say(connection, {"id": request["id"], "error": str(error)})
        else:
            owners[pid] = connection
            connections[connection][1].add(pid)
            say(connection, {"id": request["id"], "pid": pid})

    # What the imports made stays untouched by the kernels' garbage collections: their memory stays
    # shared with this process instead of being copied page by page (half of a kernel's start).
    gc.freeze()
    idle_since = time.monotonic()
    had_build = False
    while not stopping:
        if connections or owners:
            wait = None
        else:
            wait = (linger if had_build else max(linger, FIRST_CONNECTION)) - (time.monotonic() - idle_since)
            if wait <= 0:
                break
        try:
            readable, _, _ = select.select([listener, wake_read, *connections], [], [], wait)
        except InterruptedError:
            continue
        if wake_read in readable:
            while True:
                try:
                    if not os.read(wake_read, 512):
                        break
                except BlockingIOError:
                    break
            reap()
        if listener in readable:
            connection, _ = listener.accept()
            connections[connection] = [b"", set()]
            had_build = True
            say(connection, {"ready": True})
        for connection in [c for c in readable if c in connections]:
            try:
                data = connection.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                drop(connection)
                if not connections:
                    idle_since = time.monotonic()
                continue
            *lines, connections[connection][0] = (connections[connection][0] + data).split(b"\n")
            for line in lines:
                handle(connection, json.loads(line))
    unlink()  # no build can reach this server any more
    for connection in list(connections):  # stopped: no kernel outlives it
        drop(connection)
    kill_all(list(owners))


if __name__ == "__main__":
    import json
    import sys

    # python -c BOOTSTRAP forkserver.py ADDRESS '["torch", ...]' LINGER
    _serve(sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4]))
