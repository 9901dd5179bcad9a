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
- ``feedback``: 👍/👎 on answers, with the question and the sentences shown (kept as it
  is; votes now go to the question log's ``votes``).
- ``questions``, ``votes``: the question log, made and written by
  :mod:`retrieval.querylog` through its own connection, never by this module.
- ``vectors``: per sentence its embedding by a semantic model (float32, little-endian),
  written by ``corpusbot embed`` and deleted with the sentence (docs/answer-quality.md,
  "Re-rankers").
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.errors import StoreError
from retrieval.scoring import Totals
from retrieval.sqlite_connection import _connect, _connect_read_only
from retrieval.sqlite_reads import Postings, Reads
from retrieval.sqlite_schema import (
    APP,
    ID_DTYPE,
    LEN_DTYPE,
    SCHEMA_VERSION,
    TERMS_PER_STATEMENT,
    TF_DTYPE,
    VECTOR_DTYPE,
)
from retrieval.sqlite_vectors import Vectors
from retrieval.sqlite_writer import IngestWrites

if TYPE_CHECKING:
    from retrieval.plan import IngestProgress, IngestReport
    from retrieval.rank import Ranked

__all__ = [
    "APP",
    "ID_DTYPE",
    "LEN_DTYPE",
    "SCHEMA_VERSION",
    "TERMS_PER_STATEMENT",
    "TF_DTYPE",
    "VECTOR_DTYPE",
    "Postings",
    "Store",
    "Totals",
]


class Store(Reads, IngestWrites, Vectors):
    """A corpusbot SQLite file, the default :class:`~retrieval.backend.Backend`. Its parts
    share one connection manager (:class:`~retrieval.sqlite_connection.Connections`):
    the schema (:mod:`retrieval.sqlite_schema`), reads (:mod:`retrieval.sqlite_reads`),
    an ingest's writes (:mod:`retrieval.sqlite_writer`) and sentence vectors
    (:mod:`retrieval.sqlite_vectors`)."""

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
