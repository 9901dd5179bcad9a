"""The SQLite file's connections: one shared writer connection, a reader per thread, and
the transactions over them. Every part of :class:`retrieval.store.Store` (schema,
reads, ingest writes, vectors) runs its statements through this manager."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlite_utils

from retrieval.errors import StoreError


class Connections:
    """A corpusbot SQLite file's connections. Reads are safe from several threads."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        open_reader: Callable[[], sqlite3.Connection] | None = None,
    ):
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.lock = threading.RLock()
        self._open_reader = open_reader or (lambda: _connect(path))
        self._local = threading.local()  # this thread's reader connection and snapshot
        self._readers: list[sqlite3.Connection] = []
        self._writer: int | None = None  # the thread inside write()

    @property
    def read_only(self) -> bool:
        """True when the file could only be opened for reading (no migration, no
        feedback, no vectors can be written)."""
        with self.lock:
            return bool(self.conn.execute("PRAGMA query_only").fetchone()[0])

    def write(self) -> _Transaction:
        """``with store.write():`` one IMMEDIATE transaction; rolled back on any error."""
        return _Transaction(self)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connections]:
        """``with store.read():`` one read transaction, so every read inside sees the same
        snapshot (WAL) even while another process commits an ingest. It runs on a
        connection of this thread's own, so questions in other threads go on in parallel
        (one shared connection would have to be locked for the whole question). Nests; in
        a thread that holds :meth:`write`, it is that transaction."""
        local = self._local
        if getattr(local, "conn", None) is not None or self._writer == threading.get_ident():
            yield self
            return
        conn = getattr(local, "reader", None)
        if conn is None:
            conn = local.reader = _mapped(self._open_reader())
            self._readers.append(conn)  # not under self.lock: a waiting writer holds it
        conn.execute("BEGIN")
        local.conn = conn
        try:
            yield self
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # keep the first error
                conn.execute("ROLLBACK")
            raise
        else:
            if conn.in_transaction:
                conn.execute("COMMIT")  # nothing was written: this ends the snapshot
        finally:
            local.conn = None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for one read: this thread's snapshot inside :meth:`read`, else
        the shared connection under the lock."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self.lock:
            yield self.conn

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and empty it, so the file stands alone
        (a store built to be renamed into place)."""
        with self.lock:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self.lock:
            for reader in self._readers:
                reader.close()
            self.conn.close()


class _Transaction:
    def __init__(self, store: Connections):
        self.store = store

    def __enter__(self) -> Connections:
        self.store.lock.acquire()
        self.store._writer = threading.get_ident()
        try:
            self.store.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            self.store._writer = None
            self.store.lock.release()
            if "readonly" in str(err) or "query_only" in str(err):
                raise StoreError(f"{self.store.path} is read-only: nothing can be saved") from err
            raise StoreError(f"{self.store.path} is busy or read-only ({err})") from err
        return self.store

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.store.conn.execute("COMMIT")
            else:
                self.store.conn.execute("ROLLBACK")
        finally:
            self.store._writer = None
            self.store.lock.release()


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open ``path`` for reading only: ``mode=ro`` if SQLite can share its -shm, else
    ``immutable=1`` (nothing else can be writing: the folder is read-only too)."""
    uri = path.resolve().as_uri()
    for query in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(
            f"{uri}?{query}", uri=True, isolation_level=None, check_same_thread=False, timeout=10
        )
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            if query.endswith("immutable=1"):
                raise
            continue
        conn.execute("PRAGMA query_only=ON")
        return conn
    raise AssertionError("unreachable")


# A question reads a few dozen scattered pages (its sentences, short postings): mapped,
# SQLite reads them in place instead of copying each page out of the OS cache
# (docs/decisions/013). Sized to hold any store (SQLite caps it at its compile-time
# maximum; pages past it are read as before).
MMAP_BYTES = 1 << 40


def _mapped(conn: sqlite3.Connection) -> sqlite3.Connection:
    """``conn`` with the database file memory-mapped for its reads."""
    conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    return conn


# Postings are blobs of up to a few MB: large pages mean fewer overflow pages to follow
# to read one (docs/decisions/017).
PAGE_SIZE = 32768


def _connect(path: Path, *, new: bool = False) -> sqlite3.Connection:
    # Autocommit mode: transactions are explicit (Store.write), so a failed ingest
    # rolls back whole. check_same_thread=False because the bot reads from worker
    # threads; Store.lock serialises use of the one connection.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    if new:  # the page size is fixed once the file has its first page
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
    with contextlib.suppress(sqlite3.DatabaseError):
        # Fails on read-only media or a file that is not a database: _check() reports it.
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn
