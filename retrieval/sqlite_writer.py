"""An ingest's writes into the SQLite file, inside the caller's ``write()``: rows in
batches, postings per term, and the journal and index tricks that make a large first
ingest fast (docs/decisions/004, 005, 012)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from retrieval.articles import ParsedArticle
from retrieval.sqlite_schema import _NAME_COLUMNS, _NAMES_INSERT_TRIGGER, Schema, _postings_rows


class IngestWrites(Schema):
    """What :func:`retrieval.ingest.apply` and :mod:`retrieval.postings` write."""

    # -- writes of an ingest or removal (inside the caller's write()) --------------------

    def claim_paths(self, claims: list[tuple[str, int]]) -> None:
        """Record (path, article id) for rows migrated from schema v1; a row that already
        has a path keeps it."""
        self.conn.executemany("UPDATE articles SET path = ? WHERE id = ? AND path IS NULL", claims)

    def next_article_id(self) -> int:
        """The id the next article gets (inside the caller's write()): AUTOINCREMENT's,
        one past the largest id ever used, so that an ingest can number a batch of
        articles and their sentences before inserting them."""
        row = self.conn.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'articles'), 0),"
            " coalesce((SELECT max(id) FROM articles), 0))"
        ).fetchone()
        return row[0] + 1

    def insert_articles(
        self, rows: Iterable[tuple[int, str, str, ParsedArticle, int, str]]
    ) -> None:
        """Insert articles: (id, identity ``path``, content ``digest``, article, number
        of sentences, ``dates``: the searchable forms of its date) rows, ids from
        :meth:`next_article_id` on."""
        self.conn.executemany(
            "INSERT INTO articles (id, path, file, digest, title, outlet, byline, date, url, "
            "n_sentences, dates, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (i, path, a.file, digest, a.title, a.outlet, a.byline, a.date, a.url, n,
                 dates, a.text)
                for i, path, digest, a, n, dates in rows
            ],
        )  # fmt: skip

    @contextlib.contextmanager
    def names_indexed_at_end(self) -> Iterator[Callable[[], None]]:
        """Inside an ingest's :meth:`write`: the articles inserted in the block enter the
        name index (``articles_fts``) in one statement at its end, not one by one through
        the insert trigger. A trigger makes each insert a statement transaction, and FTS5
        writes its pending terms out at every one (docs/decisions/012).
        The trigger is dropped for the block and re-created as it was, in the caller's
        transaction, so an ingest that fails or is interrupted keeps it (rolled back).

        Yields a function that indexes them at once instead, when the caller has
        inserted its last article and has other work to overlap with it."""
        conn = self.conn
        row = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
            (_NAMES_INSERT_TRIGGER,),
        ).fetchone()
        if row is None:  # a schema without it (never made by this code): nothing to do
            yield lambda: None
            return
        # AUTOINCREMENT: every article inserted from now on has a larger id.
        (last,) = conn.execute("SELECT coalesce(max(id), 0) FROM articles").fetchone()
        conn.execute(f'DROP TRIGGER "{_NAMES_INSERT_TRIGGER}"')
        indexed = False

        def index_names() -> None:
            nonlocal indexed
            if not indexed:
                conn.execute(
                    f"INSERT INTO articles_fts (rowid, {_NAME_COLUMNS}) "
                    f"SELECT id, {_NAME_COLUMNS} FROM articles WHERE id > ? ORDER BY id",
                    (last,),
                )
                indexed = True

        yield index_names
        index_names()
        conn.execute(row[0])

    def insert_sentences(self, rows: Iterable[tuple[int, int, int, int, int, int, str]]) -> None:
        """Insert sentences: (id, article id, position, start, end, length, text) rows."""
        self.conn.executemany(
            'INSERT INTO sentences (id, article_id, position, start, "end", length, text) '
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def delete_article(self, article_id: int) -> list[tuple[int, int, str]]:
        """Delete an article and its sentences (their vectors cascade); returns the
        sentences' (id, length, text), which the caller takes out of the postings."""
        rows = self.conn.execute(
            "SELECT id, length, text FROM sentences WHERE article_id = ?", (article_id,)
        ).fetchall()
        if rows:
            self.conn.execute("DELETE FROM sentences WHERE article_id = ?", (article_id,))
        self.conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        return rows

    def stored_postings(self, terms: list[str]) -> dict[str, tuple[int, bytes, bytes, bytes]]:
        """``{term: (df, ids, tfs, lens)}`` of those ``terms`` in the store, as the raw
        arrays (little-endian bytes) that new postings are appended to."""
        rows = _postings_rows(self.conn, terms)
        return {row[0]: row[1:] for row in rows}

    def has_postings(self) -> bool:
        """Whether any term is stored (inside the caller's write())."""
        return self.conn.execute("SELECT 1 FROM terms LIMIT 1").fetchone() is not None

    def insert_postings(self, rows: Iterable[tuple]) -> None:
        """Add terms: (term, df, ids, tfs, lens) rows, the arrays as bytes or buffers."""
        self.conn.executemany(
            "INSERT INTO terms (term, df, ids, tfs, lens) VALUES (?, ?, ?, ?, ?)", rows
        )

    def replace_postings(self, rows: Iterable[tuple]) -> None:
        """Rewrite terms' postings: (df, ids, tfs, lens, term) rows."""
        self.conn.executemany(
            "UPDATE terms SET df = ?, ids = ?, tfs = ?, lens = ? WHERE term = ?", rows
        )

    def delete_postings(self, terms: Iterable[str]) -> None:
        """Drop terms no sentence holds any more."""
        self.conn.executemany("DELETE FROM terms WHERE term = ?", [(t,) for t in terms])

    def document_frequencies(self) -> np.ndarray:
        """Every term's df (float64), for the idf sum of the corpus totals."""
        return np.fromiter(
            (row[0] for row in self.conn.execute("SELECT df FROM terms")), dtype=np.float64
        )

    @contextlib.contextmanager
    def rollback_journal_while_empty(self) -> Iterator[bool]:
        """Around an ingest's :meth:`write`: a store that holds no article yet is filled
        through a rollback journal, not the WAL, and without foreign-key checks; yields
        whether it is.

        In WAL mode every page of the transaction is written twice, to the WAL and then
        by the checkpoint into the file (docs/decisions/004). A rollback journal keeps
        the original of each page changed, and an empty store has only its schema's
        pages: the file is written once, and an interrupted fill still rolls back to the
        empty store (the journal is synced before any page of the file is overwritten).

        The cost is to readers: while the fill holds its write lock, a connection opened
        to the file (the WAL-mode default of :func:`_connect` cannot be set then) waits
        for it and may time out (``database is locked``), where in WAL mode it would read
        the empty store. So the journal changes only when no other connection has the
        file open (SQLite refuses to leave WAL mode then, and this does not wait for it)
        and nothing is stored that anyone could be reading. WAL mode is back at the end."""
        switched = False
        if not self._has_articles():
            switched = self._journal_mode("DELETE") == "delete"
        if switched:
            # An ingest inserts a part's articles just before their sentences, with the
            # ids the sentences name, so checking each sentence's foreign key (a lookup in
            # articles) proves nothing, and nothing stored can
            # cascade. The pragma is a no-op inside a transaction: set here.
            self._foreign_keys(False)
        try:
            yield switched
        finally:
            if switched:
                self._foreign_keys(True)
                # May fail if a reader opened the file meanwhile; every later connection
                # asks for WAL mode again (_connect).
                self._journal_mode("WAL")

    @contextlib.contextmanager
    def synced_in_background(self, every: float = 1.0) -> Iterator[None]:
        """While a long write runs: the file's written pages go to disk every ``every``
        seconds, not all at the commit's ``fsync``.

        A large first ingest leaves hundreds of MB in the OS's cache for the commit to
        sync, at the very end, when nothing else is left to do (docs/decisions/005);
        synced as they are written, the commit finds almost nothing left. Durability is
        unchanged: SQLite still syncs its journal before the file and the file at the
        commit, and a page synced early is only on disk sooner.

        The syncing runs in a child process, not a thread: a second descriptor of the
        database closed in this process would drop the POSIX locks SQLite holds on the
        file (https://www.sqlite.org/howtocorrupt.html, 2.2). The child stops when the
        block ends or this process dies (its standard input closes). POSIX only;
        elsewhere this does nothing."""
        if os.name != "posix":
            yield
            return
        paths = [str(p) for p in (self.path, Path(f"{self.path}-wal")) if p.exists()]
        try:
            child = subprocess.Popen(
                [sys.executable, "-I", "-m", "retrieval.fsync_child", str(every), *paths],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        except OSError:  # no process to spare: the commit syncs everything, as before
            yield
            return
        try:
            yield
        finally:
            child.stdin.close()  # end of input: the child's wait returns, and it exits
            child.wait()

    def _foreign_keys(self, on: bool) -> None:
        with self.lock:
            self.conn.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")

    def _has_articles(self) -> bool:
        with self.lock:
            return self.conn.execute("SELECT 1 FROM articles LIMIT 1").fetchone() is not None

    def _journal_mode(self, mode: str) -> str | None:
        """Ask for journal ``mode`` without waiting for other connections; returns the
        mode in force afterwards (None if the file is busy)."""
        with self.lock:
            conn = self.conn
            (timeout,) = conn.execute("PRAGMA busy_timeout").fetchone()
            conn.execute("PRAGMA busy_timeout=0")
            try:
                return conn.execute(f"PRAGMA journal_mode={mode}").fetchone()[0]
            except sqlite3.OperationalError:
                return None
            finally:
                conn.execute(f"PRAGMA busy_timeout={int(timeout)}")
