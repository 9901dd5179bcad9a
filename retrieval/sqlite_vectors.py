"""Sentence vectors in the SQLite file (``corpusbot embed``, the stored-vector re-ranker)."""

from __future__ import annotations

import numpy as np

from retrieval.models import Sentence
from retrieval.sqlite_reads import _row_to_sentence
from retrieval.sqlite_schema import _SENTENCE_COLUMNS, VECTOR_DTYPE, Schema, _is_rowid


class Vectors(Schema):
    """Per sentence, its vector by a semantic model."""

    def vectors(self, ids: list[int], model: str) -> dict[int, np.ndarray]:
        """``{sentence id: vector}`` of the given sentences that have one from ``model``
        (inside ``read()``, from the question's snapshot: questions do not wait on each
        other)."""
        ids = [i for i in ids if _is_rowid(i)]
        if not ids or not self._has_table("vectors"):
            return {}
        marks = ",".join("?" * len(ids))
        with self._reading() as conn:
            rows = conn.execute(
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
