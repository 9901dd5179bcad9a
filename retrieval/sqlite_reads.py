"""Reads of the SQLite file: totals, postings, articles, sentences, article lookups.
Each runs on this thread's snapshot inside ``read()``, else on the shared connection."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.backend import ArticleQuery
from retrieval.models import Article, Sentence
from retrieval.scoring import Totals
from retrieval.sqlite_connection import Connections
from retrieval.sqlite_schema import (
    _ARTICLE_COLUMNS,
    _NAME_FIELDS,
    _SENTENCE_COLUMNS,
    ID_DTYPE,
    LEN_DTYPE,
    NAME_FIELD_WEIGHTS,
    TF_DTYPE,
    _is_rowid,
    _postings_rows,
)


@dataclass(frozen=True)
class Postings:
    df: int
    ids: np.ndarray
    tfs: np.ndarray
    lens: np.ndarray


# Bound parameters per statement: SQLite's limit was 999 before 3.32.
_TERMS_A_QUERY = 900


def _row_to_article(row: tuple) -> Article:
    return Article(*row[:7], sentences=row[7] or 0)


def _row_to_sentence(row: tuple) -> Sentence:
    return Sentence(*row)


class Reads(Connections):
    """The reads every question, ``/source`` and ingest plan makes."""

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

    def frequencies(self, terms: list[str]) -> dict[str, int]:
        """How many sentences hold each of ``terms`` the vocabulary has (its df)."""
        found: dict[str, int] = {}
        with self._reading() as conn:
            for i in range(0, len(terms), _TERMS_A_QUERY):
                chunk = terms[i : i + _TERMS_A_QUERY]
                marks = ",".join("?" * len(chunk))
                found.update(
                    conn.execute(f"SELECT term, df FROM terms WHERE term IN ({marks})", chunk)
                )
        return found

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


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
