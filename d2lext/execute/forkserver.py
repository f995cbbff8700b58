"""Run by the build in a framework's Python: imports the framework once, then forks a fresh kernel
for every chapter.

This file is not imported by the extension: ``forking.py`` runs it with ``python -c`` (the file
and the modules to import as arguments, JSON). It then speaks JSON lines: on its
standard input, requests to start a kernel (``{"id", "argv", "cwd", "env", "log"}``); on its
standard output (kept for them alone: what the imports print goes to its log),
``{"ready": true}`` once the imports are done, ``{"id", "pid"}`` (or ``{"id", "error"}``) for
each request, and ``{"exit": pid, "status": code}`` when a kernel ends (``status`` as
``Popen.returncode`` gives it: negative for a signal). When its standard input closes (the build
ended, or died), it kills its kernels and exits.

A kernel is this process forked before any chapter ran in it: every chapter finds the framework
imported and nothing another chapter did. Only the standard library and ipykernel are used.
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
)


def _serve(modules):
    import gc
    import importlib
    import importlib.util
    import json
    import os
    import select
    import signal
    import sys

    # As ipykernel_launcher does: no working folder on the path while loading (IPython puts ''
    # back in each kernel), and the inline backend named before matplotlib reads it.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    # Messages to the build go through a descriptor of their own: what the imports print (to
    # file descriptor 1 or sys.stdout) goes to the server's log, as its stderr does.
    replies = os.dup(1)
    os.dup2(2, 1)
    started_with = dict(os.environ)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # The parent ipykernel watches (read when it is imported): a kernel exits if its server dies.
    os.environ["JPY_PARENT_PID"] = str(os.getpid())
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # the chapter that imports it says why
            pass
    for name in KERNEL_MODULES:
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

    def say(message):
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(replies, data) :]

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *args: None)  # wakes the loop below (set_wakeup_fd)
    children = set()

    def spawn(request):
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:  # the kernel: nothing of the server's loop, its own session, files and environment
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            os.close(wake_read)
            os.close(wake_write)
            os.close(replies)
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

    def reap():
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            say({"exit": pid, "status": os.waitstatus_to_exitcode(status)})

    # What the imports made stays untouched by the kernels' garbage collections: their memory stays
    # shared with this process instead of being copied page by page (half of a kernel's start).
    gc.freeze()
    say({"ready": True})
    pending = b""
    while True:
        readable, _, _ = select.select([0, wake_read], [], [])
        if wake_read in readable:
            while True:
                try:
                    if not os.read(wake_read, 512):
                        break
                except BlockingIOError:
                    break
            reap()
        if 0 in readable:
            data = os.read(0, 1 << 16)
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = json.loads(line)
                try:
                    pid = spawn(request)
                except OSError as error:
                    say({"id": request["id"], "error": str(error)})
                else:
                    children.add(pid)
                    say({"id": request["id"], "pid": pid})
    for pid in list(children):  # the build is over: no kernel outlives it
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    while children:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        children.discard(pid)


if __name__ == "__main__":
    import json
    import sys

    _serve(json.loads(sys.argv[2]))  # python -c BOOTSTRAP forkserver.py '["torch", ...]'
