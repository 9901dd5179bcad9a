"""Real xapian-tcpsrv shard servers for tests, on free ports of 127.0.0.1.

Without xapian-tcpsrv (or the Python bindings) the Xapian tests fail, saying how to
install them; `make test` installs xapian-tools first when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.backend import XapianShard

INSTALL = (
    "the Xapian tests need xapian-tcpsrv (apt-get install -y xapian-tools) and the "
    "bindings (pip install -e '.[dev]', which includes xapian-bindings-binary)"
)


def require_xapian() -> None:
    try:
        import xapian  # noqa: F401
    except ImportError:
        missing = True
    else:
        missing = shutil.which("xapian-tcpsrv") is None
    if missing:
        # Failed, not skipped: a test that does not run proves nothing (`make test`
        # installs xapian-tools when it can).
        pytest.fail("the Xapian tests cannot run: " + INSTALL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"no shard server on 127.0.0.1:{port}")
        time.sleep(0.02)


class ShardServer:
    """One shard directory and the xapian-tcpsrv process serving it."""

    def __init__(self, path: Path, *, idle_ms: int | None = None):
        from retrieval.xapian_writer import create_shard

        self.path = path
        self.idle_ms = idle_ms
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        create_shard(path)

    @property
    def shard(self) -> XapianShard:
        return XapianShard("127.0.0.1", self.port)

    def start(self) -> None:
        from retrieval.shard_server import start

        # The server reports every client that goes away; the tests make many.
        self.process = start(
            self.path, port=self.port, idle_ms=self.idle_ms, output=subprocess.DEVNULL
        )
        wait_listening(self.port)

    def signal(self, sig: int) -> None:
        """Signal the server and the children it forked for connections."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        if self.process is None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None


@contextlib.contextmanager
def running_shards(
    root: Path, count: int = 2, *, idle_ms: int | None = None
) -> Iterator[list[ShardServer]]:
    """``count`` fresh shards under ``root``, served until the block ends."""
    servers = [ShardServer(root / f"shard{i}", idle_ms=idle_ms) for i in range(count)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def shards_setting(servers: list[ShardServer]) -> str:
    return ",".join(str(s.shard) for s in servers)
