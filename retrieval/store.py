"""The one SQLite file and all of its SQL: articles, sentences, postings, totals, feedback.

Every statement the engine runs is here, behind a named :class:`Store` method; other
modules never touch the connection, so a schema change touches this file only.

sqlite-utils or plain SQL: sqlite-utils declares the schema (tables, indexes, full-text
search) and writes the rows that come one at a time per command (the totals in ``meta``,
a feedback vote), where it is shorter than SQL. Plain parameterised SQL does the rest:
every read, and every write made per article, sentence or term (an ingest's inserts,
postings appended or rewritten, deletes by id, vectors). Those are the measured hot
paths, and sqlite-utils inspects the table on each call. Plain SQL also declares what
sqlite-utils cannot (AUTOINCREMENT, ON DELETE CASCADE, the v1 → v2 table rebuild).

Tables:

- ``meta``: key/value: app marker, schema version, corpus totals for BM25.
- ``articles``: one row per article, the complete text as ingested (for ``/source``).
  ``path`` is the article's identity (see :func:`retrieval.ingest.discover`): the
  resolved absolute path of its file (``#id`` added for a JSONL line), unique; ``file``
  is the name shown to people. Ids come from AUTOINCREMENT, so they are never reused.
- ``articles_fts``: FTS5 over title, outlet, byline, dates and file name, for naming articles.
- ``sentences``: searchable sentences with offsets into their article and token counts.
- ``terms``: per term its document frequency and postings as three little-endian
  arrays (sentence ids ascending, term counts, sentence lengths), so a query reads
  only its own terms' rows and never loads the corpus.
- ``feedback``: 👍/👎 on answers, with the question and the sentences shown.
- ``vectors``: per sentence its embedding by a semantic model (float32, little-endian),
  written by ``corpusbot embed`` and deleted with the sentence (README "Re-rankers").
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sqlite_utils

from retrieval.articles import ParsedArticle
from retrieval.backend import NAME_FIELD_WEIGHTS, ArticleQuery
from retrieval.errors import StoreError
from retrieval.models import Article, Sentence
from retrieval.scoring import Totals

if TYPE_CHECKING:
    from retrieval.plan import IngestProgress, IngestReport
    from retrieval.rank import Ranked

APP = "corpusbot"
SCHEMA_VERSION = 2
# v1 → v2: articles gained ``path`` (identity) and AUTOINCREMENT ids; ``file`` is no
# longer unique. Migrated on opening (:meth:`Store._migrate`).

_ARTICLES_TABLE = """CREATE TABLE {name} (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT,
    file TEXT NOT NULL,
    digest TEXT NOT NULL,
    title TEXT NOT NULL,
    outlet TEXT,
    byline TEXT,
    date TEXT,
    url TEXT,
    n_sentences INTEGER,
    dates TEXT,
    text TEXT NOT NULL
)"""
_ARTICLES_INDEXES = (
    # NULL only in rows migrated from v1 until an ingest names their file; SQLite lets
    # several rows share NULL in a unique index.
    "CREATE UNIQUE INDEX idx_articles_path ON articles (path)",
    "CREATE INDEX idx_articles_file ON articles (file)",
)

ID_DTYPE = np.dtype("<i4")
TF_DTYPE = np.dtype("<u2")
LEN_DTYPE = np.dtype("<u2")

_ARTICLE_COLUMNS = "id, file, title, outlet, byline, date, url, n_sentences"
# The article fields of the name index (FTS5), and the trigger that indexes a new article.
_NAME_FIELDS = list(NAME_FIELD_WEIGHTS)
_NAME_COLUMNS = ", ".join(_NAME_FIELDS)
_NAMES_INSERT_TRIGGER = "articles_ai"  # sqlite-utils' name: enable_fts(create_triggers=True)
_SENTENCE_COLUMNS = "id, article_id, position, text, start, end"
VECTOR_DTYPE = np.dtype("<f4")
# Added after schema version 1 shipped, so opening an older file adds it (see _add_vectors).
# ON DELETE CASCADE: however a sentence goes (removal, re-ingest), its vector goes too.
_VECTORS_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS vectors ("
    "sentence_id INTEGER PRIMARY KEY REFERENCES sentences(id) ON DELETE CASCADE, "
    "model TEXT NOT NULL, vector BLOB NOT NULL)",
    # Counting one model's vectors (stats) reads this small index, not the vectors.
    "CREATE INDEX IF NOT EXISTS vectors_model ON vectors(model)",
)


@dataclass(frozen=True)
class Postings:
    df: int
    ids: np.ndarray
    tfs: np.ndarray
    lens: np.ndarray


def _row_to_article(row: tuple) -> Article:
    return Article(*row[:7], sentences=row[7] or 0)


def _row_to_sentence(row: tuple) -> Sentence:
    return Sentence(*row)


class Store:
    """A corpusbot SQLite file. Reads are safe from several threads (one lock)."""

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

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path) -> Store:
        """Create an empty store at ``path`` (which must not exist)."""
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, _connect(path, new=True))
        store._create_schema()
        return store

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open an existing store; a missing, foreign or corrupt file raises StoreError."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"no database at {path}")
        reader = None
        try:
            conn = _connect(path)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError as err:
                # A read-only file or folder: WAL readers need a writable -shm. Read it anyway.
                if "readonly" not in str(err) and "unable to open" not in str(err):
                    raise
                conn.close()
                conn = _connect_read_only(path)
                reader = functools.partial(_connect_read_only, path)
        except sqlite3.Error as err:
            raise StoreError(f"cannot open {path}: {err}") from err
        store = cls(path, conn, reader)
        store._check()
        store._add_vectors()
        return store

    @property
    def read_only(self) -> bool:
        """True when the file could only be opened for reading (no migration, no
        feedback, no vectors can be written)."""
        with self.lock:
            return bool(self.conn.execute("PRAGMA query_only").fetchone()[0])

    def _check(self) -> None:
        try:
            rows = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as err:
            self.conn.close()
            if "no such table" in str(err):
                raise StoreError(f"{self.path} is not a corpusbot database") from err
            raise StoreError(f"{self.path} is not a usable database ({err})") from err
        if rows.get("app") != APP:
            self.conn.close()
            raise StoreError(f"{self.path} is not a corpusbot database")
        version = int(rows.get("schema_version", 0))
        if version == 1 and not self.read_only:
            self._migrate()
            version = SCHEMA_VERSION
        if version != SCHEMA_VERSION and not (version == 1 and self.read_only):
            self.conn.close()
            raise StoreError(
                f"{self.path} has schema version {rows.get('schema_version')}, "
                f"this corpusbot needs {SCHEMA_VERSION}: rebuild it with `corpusbot ingest`"
            )

    def _migrate(self) -> None:
        """Schema v1 → v2 in one transaction: rebuild ``articles`` with AUTOINCREMENT ids
        (kept as they were) and a ``path`` column, NULL until an ingest names the file
        (:func:`retrieval.ingest.ingest` then claims the row by its old ``file`` key).
        A read-only v1 file is read as it is (its queries are the same)."""
        conn = self.conn
        conn.execute("PRAGMA foreign_keys=OFF")  # sentences point at the table rebuilt
        try:
            with self.write():
                (version,) = conn.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'"
                ).fetchone()
                if int(version) != 1:
                    return  # another process migrated it first
                triggers = [
                    r[0]
                    for r in conn.execute(
                        "SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                        "AND tbl_name = 'articles'"
                    )
                ]
                columns = "id, file, digest, title, outlet, byline, date, url, n_sentences, "
                columns += "dates, text"
                conn.execute(_ARTICLES_TABLE.format(name="articles_v2"))
                conn.execute(f"INSERT INTO articles_v2 ({columns}) SELECT {columns} FROM articles")
                conn.execute("DROP TABLE articles")
                conn.execute("ALTER TABLE articles_v2 RENAME TO articles")
                for sql in (*_ARTICLES_INDEXES, *triggers):
                    conn.execute(sql)
                if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                    raise StoreError(f"{self.path}: sentences without an article, not migrated")
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
                )
        finally:
            conn.execute("PRAGMA foreign_keys=ON")

    def _add_vectors(self) -> None:
        """Add the tables newer than the file (additive only: nothing stored changes)."""
        if self.read_only or self._has_table("vectors"):
            return
        # A file busy with another writer is migrated by a later open; until then it
        # reads as having no vectors.
        with contextlib.suppress(StoreError, sqlite3.OperationalError), self.write():
            for sql in _VECTORS_SCHEMA:
                self.conn.execute(sql)

    def _has_table(self, name: str) -> bool:
        with self.lock:
            row = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            ).fetchone()
        return row is not None

    def _create_schema(self) -> None:
        db = self.db
        with self.write():
            db["meta"].create({"key": str, "value": str}, pk="key")
            # Raw SQL: sqlite-utils cannot declare AUTOINCREMENT.
            self.conn.execute(_ARTICLES_TABLE.format(name="articles"))
            for sql in _ARTICLES_INDEXES:
                self.conn.execute(sql)
            db["sentences"].create(
                {
                    "id": int,
                    "article_id": int,
                    "position": int,
                    "start": int,
                    "end": int,
                    "length": int,
                    "text": str,
                },
                pk="id",
                foreign_keys=[("article_id", "articles", "id")],
            )
            db["sentences"].create_index(["article_id", "position"], unique=True)
            db["terms"].create(
                {"id": int, "term": str, "df": int, "ids": bytes, "tfs": bytes, "lens": bytes},
                pk="id",
            )
            db["terms"].create_index(["term"], unique=True)
            db["feedback"].create(
                {
                    "id": int,
                    "created_at": str,
                    "user_id": str,
                    "question": str,
                    "sentence_ids": str,
                    "vote": int,
                },
                pk="id",
            )
            db["articles"].enable_fts(
                # Not the article text: naming an article by its topic uses the
                # sentence index (retrieval/sources.py); a second full-text index of
                # every article would cost a third of ingest time and a sixth of the file.
                _NAME_FIELDS,
                create_triggers=True,
                tokenize="porter",
            )
            db["meta"].insert_all(
                [
                    {"key": "app", "value": APP},
                    {"key": "schema_version", "value": str(SCHEMA_VERSION)},
                ]
            )
            self.set_totals(Totals())
            for sql in _VECTORS_SCHEMA:
                self.conn.execute(sql)

    # -- transactions --------------------------------------------------------------------

    def write(self) -> _Transaction:
        """``with store.write():`` one IMMEDIATE transaction; rolled back on any error."""
        return _Transaction(self)

    @contextlib.contextmanager
    def read(self) -> Iterator[Store]:
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

    # -- totals --------------------------------------------------------------------------

    def totals(self) -> Totals:
        with self._reading() as conn:
            rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        return Totals(
            sentences=int(rows.get("sentences", 0)),
            tokens=int(rows.get("tokens", 0)),
            terms=int(rows.get("terms", 0)),
            idf_sum=float(rows.get("idf_sum", 0.0)),
            max_sentence_id=int(rows.get("max_sentence_id", 0)),
        )

    def set_totals(self, totals: Totals) -> None:
        self.db["meta"].upsert_all(
            [
                {"key": "sentences", "value": str(totals.sentences)},
                {"key": "tokens", "value": str(totals.tokens)},
                {"key": "terms", "value": str(totals.terms)},
                {"key": "idf_sum", "value": repr(totals.idf_sum)},
                {"key": "max_sentence_id", "value": str(totals.max_sentence_id)},
            ],
            pk="key",
        )

    # -- postings ------------------------------------------------------------------------

    def postings(self, terms: list[str]) -> dict[str, Postings]:
        """Postings of the given terms that exist in the vocabulary."""
        if not terms:
            return {}
        with self._reading() as conn:
            rows = _postings_rows(conn, terms)
        return {
            term: Postings(
                df,
                np.frombuffer(ids, ID_DTYPE),
                np.frombuffer(tfs, TF_DTYPE),
                np.frombuffer(lens, LEN_DTYPE),
            )
            for term, df, ids, tfs, lens in rows
        }

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
        writes its pending terms out at every one: ~4× the cost of the whole insert.
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
        by the checkpoint into the file (at 1M sentences ~600 MB twice, ~4 s of an
        ingest's ~20). A rollback journal keeps the original of each page changed, and
        an empty store has only its schema's pages: the file is written once, and an
        interrupted fill still rolls back to the empty store (the journal is synced
        before any page of the file is overwritten).

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
            # articles, ~0.45 s at 1M sentences) proves nothing, and nothing stored can
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

        A first ingest of 1M sentences leaves ~600 MB in the OS's cache for the commit to
        sync (~1 s of disk waiting at the very end, when nothing else is left to do);
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
                [sys.executable, "-I", "-S", "-c", _SYNC_LOOP, str(every), *paths],
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

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and empty it, so the file stands alone
        (a store built to be renamed into place)."""
        with self.lock:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- articles and sentences ----------------------------------------------------------

    def article(self, article_id: int) -> Article | None:
        if not _is_rowid(article_id):
            return None
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
        return _row_to_article(row) if row else None

    def article_by_name(self, name: str) -> Article | None:
        """The one article whose file name (with or without extension) or title is
        ``name`` (ASCII case ignored); None when no article or several are named so
        (``index.txt`` from two folders): the caller lists them instead of picking one."""
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE file = ? COLLATE NOCASE "
                "OR title = ? COLLATE NOCASE OR file LIKE ? ESCAPE '\\' ORDER BY id LIMIT 2",
                (name, name, _escape_like(name) + ".%"),
            ).fetchall()
        return _row_to_article(rows[0]) if len(rows) == 1 else None

    def articles(self, ids: list[int] | None = None, *, limit: int = -1) -> list[Article]:
        """All articles (by id, at most ``limit``), or those with the given ids in order."""
        with self._reading() as conn:
            if ids is None:
                rows = conn.execute(
                    f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY id LIMIT ?", (limit,)
                ).fetchall()
                return [_row_to_article(r) for r in rows]
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id IN ({marks})", ids
            ).fetchall()
        by_id = {r[0]: _row_to_article(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def article_text(self, article_id: int) -> str | None:
        if not _is_rowid(article_id):
            return None
        with self._reading() as conn:
            row = conn.execute("SELECT text FROM articles WHERE id = ?", (article_id,)).fetchone()
        return row[0] if row else None

    def file_digests(self, path: str) -> dict[str, tuple[int, str]]:
        """``{article path: (id, digest)}`` of the articles ingested from the file at
        ``path``: the file itself, or its ``path#id`` JSONL lines (a range scan)."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT path, id, digest FROM articles WHERE path = ? OR (path > ? AND path < ?)",
                (path, path + "#", path + "$"),
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def has_unclaimed(self) -> bool:
        """Whether any row migrated from schema v1 still waits for its ``path``."""
        with self._reading() as conn:
            return (
                conn.execute("SELECT 1 FROM articles WHERE path IS NULL LIMIT 1").fetchone()
                is not None
            )

    def unclaimed_digests(self, file: str) -> dict[str, tuple[int, str]]:
        """Like :meth:`file_digests`, for rows migrated from schema v1 that no ingest has
        claimed yet (no ``path``), by their old ``file`` key."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT file, id, digest FROM articles WHERE path IS NULL "
                "AND (file = ? OR (file > ? AND file < ?))",
                (file, file + "#", file + "$"),
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def sentences(self, ids: list[int]) -> list[Sentence]:
        """Sentences by id, in the order given (unknown ids are left out)."""
        ids = [i for i in ids if _is_rowid(i)]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_SENTENCE_COLUMNS} FROM sentences WHERE id IN ({marks})", ids
            ).fetchall()
        by_id = {r[0]: _row_to_sentence(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def sentence_from(self, sentence_id: int) -> Sentence | None:
        """The first sentence with an id of at least ``sentence_id`` (bench samples
        questions from random sentences this way)."""
        with self._reading() as conn:
            row = conn.execute(
                f"SELECT {_SENTENCE_COLUMNS} FROM sentences WHERE id >= ? ORDER BY id LIMIT 1",
                (sentence_id,),
            ).fetchone()
        return _row_to_sentence(row) if row else None

    def sentence_texts(self) -> list[tuple[int, str]]:
        """Every sentence's (id, text), by id: the corpus as bench hands it to other
        engines (Tantivy, rank-bm25)."""
        with self._reading() as conn:
            return conn.execute("SELECT id, text FROM sentences ORDER BY id").fetchall()

    def neighbours(self, sentence: Sentence, before: int, after: int) -> list[Sentence]:
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_SENTENCE_COLUMNS} FROM sentences WHERE article_id = ? "
                "AND position BETWEEN ? AND ? ORDER BY position",
                (sentence.article_id, sentence.position - before, sentence.position + after),
            ).fetchall()
        return [_row_to_sentence(r) for r in rows]

    def article_sentences(self, article_id: int) -> list[Sentence]:
        with self._reading() as conn:
            rows = conn.execute(
                f"SELECT {_SENTENCE_COLUMNS} FROM sentences WHERE article_id = ? ORDER BY position",
                (article_id,),
            ).fetchall()
        return [_row_to_sentence(r) for r in rows]

    def search_articles(self, query: ArticleQuery, limit: int) -> list[tuple[Article, float]]:
        """Articles whose naming fields hold the query's words (FTS5), best first."""
        # Every word quoted, so nothing a person types is read as FTS5 syntax.
        quoted = [f'"{w}"' for w in query.words]
        if query.prefix:
            quoted[-1] += "*"
        match = (" AND " if query.every else " OR ").join(quoted)
        weights = ", ".join(str(float(NAME_FIELD_WEIGHTS[f])) for f in _NAME_FIELDS)
        sql = (
            f"SELECT {', '.join('a.' + c.strip() for c in _ARTICLE_COLUMNS.split(','))}, "
            f"bm25(articles_fts, {weights}) AS rank "
            "FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid "
            "WHERE articles_fts MATCH ? ORDER BY rank LIMIT ?"
        )
        with self._reading() as conn:
            rows = conn.execute(sql, (match, limit)).fetchall()
        return [(_row_to_article(r[:8]), -float(r[8])) for r in rows]

    def counts(self) -> tuple[int, int, int]:
        """(articles, sentences, terms)."""
        totals = self.totals()
        with self._reading() as conn:
            (articles,) = conn.execute("SELECT count(*) FROM articles").fetchone()
        return articles, totals.sentences, totals.terms

    def size_bytes(self) -> int:
        return sum(
            os.path.getsize(p) for p in (self.path, Path(f"{self.path}-wal")) if os.path.exists(p)
        )

    # -- what the backend protocol adds: ranking and ingest over this file --------------

    def rank(self, terms: list[str], need: int) -> Ranked:
        """BM25Okapi over this file's postings (:func:`retrieval.rank.rank_postings`)."""
        from retrieval.rank import rank_postings

        return rank_postings(self, terms, need)

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        progress: Callable[[IngestProgress], None] | None = None,
        workers: int | None = None,
    ) -> IngestReport:
        """Add or update the articles in ``paths``, in one transaction
        (:mod:`retrieval.plan`'s rules, applied by :func:`retrieval.ingest.apply`)."""
        from retrieval.ingest import ingest

        return ingest(self, paths, progress=progress, workers=workers)

    def remove(self, article_id: int) -> None:
        """Remove one article, in its own transaction."""
        from retrieval.ingest import remove

        remove(self, article_id)

    # -- sentence vectors (semantic re-ranking) ------------------------------------------

    def vectors(self, ids: list[int], model: str) -> dict[int, np.ndarray]:
        """``{sentence id: vector}`` of the given sentences that have one from ``model``."""
        ids = [i for i in ids if _is_rowid(i)]
        if not ids or not self._has_table("vectors"):
            return {}
        marks = ",".join("?" * len(ids))
        with self.lock:
            rows = self.conn.execute(
                f"SELECT sentence_id, vector FROM vectors WHERE model = ? "
                f"AND sentence_id IN ({marks})",
                [model, *ids],
            ).fetchall()
        return {i: np.frombuffer(v, VECTOR_DTYPE) for i, v in rows}

    def unembedded(self, model: str, *, after: int = 0, limit: int = 256) -> list[Sentence]:
        """Up to ``limit`` sentences with an id above ``after`` and no vector from ``model``,
        by id (a resumable scan: pass the last id seen as ``after``)."""
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {', '.join('s.' + c.strip() for c in _SENTENCE_COLUMNS.split(','))} "
                "FROM sentences s LEFT JOIN vectors v ON v.sentence_id = s.id AND v.model = ? "
                "WHERE s.id > ? AND v.sentence_id IS NULL ORDER BY s.id LIMIT ?",
                (model, after, limit),
            ).fetchall()
        return [_row_to_sentence(r) for r in rows]

    def put_vectors(self, model: str, vectors: dict[int, np.ndarray]) -> None:
        """Store (or replace) sentence vectors, in one transaction; those of sentences
        removed in the meantime are dropped."""
        with self.write():
            self.conn.executemany(
                "INSERT OR REPLACE INTO vectors (sentence_id, model, vector) "
                "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM sentences WHERE id = ?)",
                [
                    (int(i), model, np.asarray(v, VECTOR_DTYPE).tobytes(), int(i))
                    for i, v in vectors.items()
                ],
            )

    def vector_count(self, model: str) -> int:
        """How many sentences have a vector from ``model``."""
        if not self._has_table("vectors"):
            return 0
        with self.lock:
            (n,) = self.conn.execute(
                "SELECT count(*) FROM vectors WHERE model = ?", (model,)
            ).fetchone()
        return n

    # -- feedback ------------------------------------------------------------------------

    def add_feedback(self, row: dict) -> None:
        with self.write():
            self.db["feedback"].insert(row)

    def close(self) -> None:
        with self.lock:
            for reader in self._readers:
                reader.close()
            self.conn.close()


class _Transaction:
    def __init__(self, store: Store):
        self.store = store

    def __enter__(self) -> Store:
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


# Terms looked up per statement by the build side (:meth:`Store.stored_postings`): within
# SQLite's 999 host parameters.
TERMS_PER_STATEMENT = 900


def _postings_rows(conn: sqlite3.Connection, terms: list[str]) -> list[tuple]:
    """(term, df, ids, tfs, lens) rows of those ``terms`` in the vocabulary."""
    marks = ",".join("?" * len(terms))
    return conn.execute(
        f"SELECT term, df, ids, tfs, lens FROM terms WHERE term IN ({marks})", terms
    ).fetchall()


def _is_rowid(value: int) -> bool:
    """Whether ``value`` fits SQLite's 64-bit integers (a larger one names no row, and
    binding it would raise OverflowError)."""
    return -(2**63) <= value < 2**63


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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


# The child of Store.synced_in_background: fsync the files given every EVERY seconds until
# its standard input reaches its end (the parent closed it, or died).
_SYNC_LOOP = """
import os, select, sys
every, paths = float(sys.argv[1]), sys.argv[2:]
files = [os.open(p, os.O_RDONLY) for p in paths]
while not select.select([sys.stdin], [], [], every)[0]:
    for fd in files:
        os.fsync(fd)
"""


# A question reads a few dozen scattered pages (its sentences, short postings): mapped,
# SQLite reads them in place instead of copying each 32 KiB page out of the OS cache (a
# fifth of reading a pool; 6-10% of a `--reranker none` answer at 1M). The pages read
# then count in the process's RSS, though they are the OS's page cache, clean and
# shared, as they were when copied (README "Performance"). Sized to hold any store
# (SQLite caps it at its compile-time maximum, 2 GB by default; pages past it are read
# as before).
MMAP_BYTES = 1 << 40


def _mapped(conn: sqlite3.Connection) -> sqlite3.Connection:
    """``conn`` with the database file memory-mapped for its reads."""
    conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    return conn


# Postings are blobs of up to a few MB: with 32 KiB pages SQLite follows 8× fewer
# overflow pages to read one, which halves the read time of the longest postings.
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
