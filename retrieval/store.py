"""The one SQLite file: articles, sentences, BM25 postings, corpus totals, feedback.

Tables (created with sqlite-utils):

- ``meta``: key/value: app marker, schema version, corpus totals for BM25.
- ``articles``: one row per article, the complete text as ingested (for ``/source``).
- ``articles_fts``: FTS5 over title, outlet, byline, dates and file name, for naming articles.
- ``sentences``: searchable sentences with offsets into their article and token counts.
- ``terms``: per term its document frequency and postings as three little-endian
  arrays (sentence ids ascending, term counts, sentence lengths), so a query reads
  only its own terms' rows and never loads the corpus.
- ``feedback``: 👍/👎 on answers, with the question and the sentences shown.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlite_utils

from retrieval.errors import StoreError
from retrieval.models import Article, Sentence

APP = "corpusbot"
SCHEMA_VERSION = 1

ID_DTYPE = np.dtype("<i4")
TF_DTYPE = np.dtype("<u2")
LEN_DTYPE = np.dtype("<u2")

_ARTICLE_COLUMNS = "id, file, title, outlet, byline, date, url, n_sentences"
_SENTENCE_COLUMNS = "id, article_id, position, text, start, end"


@dataclass(frozen=True)
class Totals:
    """Corpus-wide BM25 figures, kept in ``meta`` and updated by every ingest."""

    sentences: int = 0  # N: every indexed sentence, even one with no terms
    tokens: int = 0  # sum of sentence lengths (avgdl = tokens / sentences)
    terms: int = 0  # vocabulary size
    idf_sum: float = 0.0  # sum over the vocabulary of log((N-df+.5)/(df+.5))
    max_sentence_id: int = 0


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

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.lock = threading.RLock()

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
        except sqlite3.Error as err:
            raise StoreError(f"cannot open {path}: {err}") from err
        store = cls(path, conn)
        store._check()
        return store

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
        if int(rows.get("schema_version", 0)) != SCHEMA_VERSION:
            self.conn.close()
            raise StoreError(
                f"{self.path} has schema version {rows.get('schema_version')}, "
                f"this corpusbot needs {SCHEMA_VERSION}: rebuild it with `corpusbot ingest`"
            )

    def _create_schema(self) -> None:
        db = self.db
        with self.write():
            db["meta"].create({"key": str, "value": str}, pk="key")
            db["articles"].create(
                {
                    "id": int,
                    "file": str,
                    "digest": str,
                    "title": str,
                    "outlet": str,
                    "byline": str,
                    "date": str,
                    "url": str,
                    "n_sentences": int,
                    "dates": str,
                    "text": str,
                },
                pk="id",
                not_null={"file", "digest", "title", "text"},
            )
            db["articles"].create_index(["file"], unique=True)
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
                ["title", "outlet", "byline", "dates", "file"],
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

    # -- transactions --------------------------------------------------------------------

    def write(self) -> _Transaction:
        """``with store.write():`` one IMMEDIATE transaction; rolled back on any error."""
        return _Transaction(self)

    # -- totals --------------------------------------------------------------------------

    def totals(self) -> Totals:
        with self.lock:
            rows = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
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
        marks = ",".join("?" * len(terms))
        with self.lock:
            rows = self.conn.execute(
                f"SELECT term, df, ids, tfs, lens FROM terms WHERE term IN ({marks})", terms
            ).fetchall()
        return {
            term: Postings(
                df,
                np.frombuffer(ids, ID_DTYPE),
                np.frombuffer(tfs, TF_DTYPE),
                np.frombuffer(lens, LEN_DTYPE),
            )
            for term, df, ids, tfs, lens in rows
        }

    # -- articles and sentences ----------------------------------------------------------

    def article(self, article_id: int) -> Article | None:
        if not _is_rowid(article_id):
            return None
        with self.lock:
            row = self.conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
        return _row_to_article(row) if row else None

    def article_by_name(self, name: str) -> Article | None:
        """The article whose file name (with or without extension) or title is ``name``
        (ASCII case ignored)."""
        with self.lock:
            row = self.conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE file = ? COLLATE NOCASE "
                "OR title = ? COLLATE NOCASE OR file LIKE ? ESCAPE '\\' ORDER BY id LIMIT 1",
                (name, name, _escape_like(name) + ".%"),
            ).fetchone()
        return _row_to_article(row) if row else None

    def articles(self, ids: list[int] | None = None, *, limit: int = -1) -> list[Article]:
        """All articles (by id, at most ``limit``), or those with the given ids in order."""
        with self.lock:
            if ids is None:
                rows = self.conn.execute(
                    f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY id LIMIT ?", (limit,)
                ).fetchall()
                return [_row_to_article(r) for r in rows]
            marks = ",".join("?" * len(ids))
            rows = self.conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id IN ({marks})", ids
            ).fetchall()
        by_id = {r[0]: _row_to_article(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def article_text(self, article_id: int) -> str | None:
        if not _is_rowid(article_id):
            return None
        with self.lock:
            row = self.conn.execute(
                "SELECT text FROM articles WHERE id = ?", (article_id,)
            ).fetchone()
        return row[0] if row else None

    def file_digests(self, file: str) -> dict[str, tuple[int, str]]:
        """``{article key: (id, digest)}`` of the articles ingested from ``file``: the file
        itself, or the ``file#id`` articles of a JSONL file (a range scan of the index)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT file, id, digest FROM articles WHERE file = ? OR (file > ? AND file < ?)",
                (file, file + "#", file + "$"),
            ).fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}

    def sentences(self, ids: list[int]) -> list[Sentence]:
        """Sentences by id, in the order given (unknown ids are left out)."""
        ids = [i for i in ids if _is_rowid(i)]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {_SENTENCE_COLUMNS} FROM sentences WHERE id IN ({marks})", ids
            ).fetchall()
        by_id = {r[0]: _row_to_sentence(r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def neighbours(self, sentence: Sentence, before: int, after: int) -> list[Sentence]:
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {_SENTENCE_COLUMNS} FROM sentences WHERE article_id = ? "
                "AND position BETWEEN ? AND ? ORDER BY position",
                (sentence.article_id, sentence.position - before, sentence.position + after),
            ).fetchall()
        return [_row_to_sentence(r) for r in rows]

    def article_sentences(self, article_id: int) -> list[Sentence]:
        with self.lock:
            rows = self.conn.execute(
                f"SELECT {_SENTENCE_COLUMNS} FROM sentences WHERE article_id = ? ORDER BY position",
                (article_id,),
            ).fetchall()
        return [_row_to_sentence(r) for r in rows]

    def search_articles(self, match: str, limit: int) -> list[tuple[Article, float]]:
        """FTS5 over article fields, best first; ``match`` is an FTS5 query we built."""
        # Column weights: title, outlet, byline, dates, file.
        sql = (
            f"SELECT {', '.join('a.' + c.strip() for c in _ARTICLE_COLUMNS.split(','))}, "
            "bm25(articles_fts, 10.0, 4.0, 2.0, 4.0, 4.0) AS rank "
            "FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid "
            "WHERE articles_fts MATCH ? ORDER BY rank LIMIT ?"
        )
        with self.lock:
            rows = self.conn.execute(sql, (match, limit)).fetchall()
        return [(_row_to_article(r[:8]), -float(r[8])) for r in rows]

    def counts(self) -> tuple[int, int, int]:
        """(articles, sentences, terms)."""
        totals = self.totals()
        with self.lock:
            (articles,) = self.conn.execute("SELECT count(*) FROM articles").fetchone()
        return articles, totals.sentences, totals.terms

    def size_bytes(self) -> int:
        return sum(
            os.path.getsize(p) for p in (self.path, Path(f"{self.path}-wal")) if os.path.exists(p)
        )

    # -- feedback ------------------------------------------------------------------------

    def add_feedback(self, row: dict) -> None:
        with self.write():
            self.db["feedback"].insert(row)

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class _Transaction:
    def __init__(self, store: Store):
        self.store = store

    def __enter__(self) -> Store:
        self.store.lock.acquire()
        try:
            self.store.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
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
            self.store.lock.release()


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
