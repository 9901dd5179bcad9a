"""``corpusbot shard serve``: one shard database served by ``xapian-tcpsrv --writable``.

The server runs in the foreground, in its own process group: xapian-tcpsrv's SIGTERM
handler signals its whole group, which must not include whoever started us. SIGTERM or
SIGINT sent to us is passed on to it, and we return when it has stopped. On Linux it is
also sent SIGTERM when whoever started it dies, even by SIGKILL, so a killed ``serve``
(or test run) leaves no server holding its port.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from retrieval.errors import StoreError

SERVER = "xapian-tcpsrv"
INSTALL_HINT = "install xapian-tools (Debian/Ubuntu: apt-get install -y xapian-tools)"


def server_binary() -> str:
    """The path of xapian-tcpsrv, or a one-line StoreError saying how to install it."""
    found = shutil.which(SERVER)
    if found is None:
        raise StoreError(f"{SERVER} not found: {INSTALL_HINT}")
    return found


def command(
    path: Path, *, port: int, interface: str = "127.0.0.1", idle_ms: int | None = None
) -> list[str]:
    """The xapian-tcpsrv command line serving ``path`` for reads and writes."""
    cmd = [server_binary(), "--writable", "--quiet", "--port", str(port)]
    cmd += ["--interface", interface]
    if idle_ms is not None:
        cmd += ["--idle-timeout", str(idle_ms)]
    return [*cmd, str(path)]


def start(
    path: Path,
    *,
    port: int,
    interface: str = "127.0.0.1",
    idle_ms: int | None = None,
    output: int | None = None,
) -> subprocess.Popen:
    """Start serving ``path`` in a new process group (the tests and ``serve`` use this);
    ``output``: where the server's messages go (e.g. ``subprocess.DEVNULL``)."""
    path = Path(path)
    if not (path / "iamglass").exists() and not (path / "iamchert").exists():
        raise StoreError(f"no shard database in {path} (create it with `corpusbot shard create`)")
    if not 0 < port < 65536:
        raise StoreError(f"--port must be between 1 and 65535, not {port}")
    return subprocess.Popen(
        command(path, port=port, interface=interface, idle_ms=idle_ms),
        start_new_session=True,
        stdout=output,
        stderr=output,
        preexec_fn=_stop_with_parent(),
    )


PR_SET_PDEATHSIG = 1  # <sys/prctl.h>


def _stop_with_parent() -> Callable[[], None] | None:
    """A function for the child, between fork and exec, asking Linux to send it SIGTERM
    when the thread that started it dies; None elsewhere (no such call)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    parent = os.getpid()

    def ask() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request was made
            os.kill(os.getpid(), signal.SIGTERM)

    return ask


def serve(
    path: Path, *, port: int, interface: str = "127.0.0.1", idle_ms: int | None = None
) -> int:
    """Serve until SIGTERM/SIGINT; returns the server's exit status (0 when stopped by us)."""
    server = start(path, port=port, interface=interface, idle_ms=idle_ms)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(f"serving {path} on {interface}:{port} (stop with Ctrl-C or SIGTERM)", flush=True)
    try:
        status = server.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopping else status
