"""Tables kept beside the corpus's own in the same SQLite file (the question log, the web
state), through a connection of their own: opened on first use under a lock, never
creating a missing file, the tables made at the first write. So they never wait on the
corpus's reader or writer locks in this process."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlite_utils


class SideTables:
    """One lazily opened connection to the database file ``path``; thread-safe.

    ``create`` makes the tables (idempotent: run once per connection, at its first
    write); ``on_open`` tunes a new connection (pragmas)."""

    def __init__(
        self,
        path: str | Path,
        create: Callable[[sqlite_utils.Database], None],
        *,
        timeout: float,
        on_open: Callable[[sqlite3.Connection], None] | None = None,
    ):
        self.path = Path(path)
        self._create = create
        self._timeout = timeout
        self._on_open = on_open
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self.ready = False  # the tables are known to exist

    @contextlib.contextmanager
    def db(
        self, *, write: bool = False, transaction: bool = False
    ) -> Iterator[sqlite_utils.Database]:
        """The connection under the lock; ``write`` makes the tables if they are missing;
        ``transaction`` wraps the block in one IMMEDIATE transaction (rolled back on any
        error)."""
        with self._lock:
            if self._conn is None:
                uri = f"{self.path.resolve().as_uri()}?mode=rw"  # never create a missing file
                self._conn = sqlite3.connect(
                    uri,
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=self._timeout,
                )
                if self._on_open is not None:
                    self._on_open(self._conn)
            db = sqlite_utils.Database(self._conn)
            if write and not self.ready:
                self._create(db)
                self.ready = True
            if not transaction:
                yield db
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self.ready = False
