"""The SQLite file's schema: its tables, their creation, the check on opening and the
migrations of older files. The tables are described in :mod:`retrieval.store`."""

from __future__ import annotations

import contextlib
import sqlite3

import numpy as np

from retrieval.backend import NAME_FIELD_WEIGHTS
from retrieval.errors import StoreError
from retrieval.scoring import Totals
from retrieval.sqlite_connection import Connections

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


class Schema(Connections):
    """Creating, checking and migrating the file's tables."""

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
        with self._reading() as conn:
            row = conn.execute(
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
