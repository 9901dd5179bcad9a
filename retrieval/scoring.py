"""BM25Okapi's formulas, once, as pure functions: rank-bm25's idf and its floor, the term
score, and the corpus totals they need (and their merge over Xapian shards).

The expressions are rank-bm25's ``BM25Okapi`` (k1=1.5, b=0.75, epsilon=0.25: a term in
more than half the sentences gets idf ``epsilon * mean idf``), operation for operation,
so scores agree with it bit for bit (only the mean idf is summed in another order).
:mod:`retrieval.rank` (SQLite postings), :mod:`retrieval.postings` (totals at ingest)
and the Xapian backend all score through here; tests/test_rank.py checks it against
rank-bm25 itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

K1 = 1.5
B = 0.75
EPSILON = 0.25


@dataclass(frozen=True)
class Totals:
    """Corpus-wide BM25 figures, kept by every ingest."""

    sentences: int = 0  # N: every indexed sentence, even one with no terms
    tokens: int = 0  # sum of sentence lengths (avgdl = tokens / sentences)
    terms: int = 0  # vocabulary size
    idf_sum: float = 0.0  # sum over the vocabulary of the unfloored idf
    max_sentence_id: int = 0

    @property
    def mean_idf(self) -> float:
        return self.idf_sum / self.terms if self.terms else 0.0

    @property
    def avgdl(self) -> float:
        return self.tokens / self.sentences if self.sentences else 0.0


def okapi_idf(df: Any, sentences: int, log: Callable[[Any], Any] = math.log) -> Any:
    """rank-bm25's idf before its floor, ``log(N - df + 0.5) - log(df + 0.5)``: of one
    term with ``math.log`` (rank-bm25's), of an array of dfs with ``np.log``."""
    return log(sentences - df + 0.5) - log(df + 0.5)


def idf(df: int, totals: Totals) -> float:
    """A query term's idf: :func:`okapi_idf`, floored at ``EPSILON`` × the corpus's mean
    idf for a term in more than half the sentences (rank-bm25's epsilon)."""
    value = okapi_idf(df, totals.sentences)
    if value < 0:
        value = EPSILON * totals.mean_idf
    return value


def idf_sum(dfs: np.ndarray, sentences: int) -> float:
    """The sum of every vocabulary term's :func:`okapi_idf` (for the mean idf)."""
    return float(np.sum(okapi_idf(dfs, sentences, np.log))) if len(dfs) else 0.0


def term_score(idf: float, tf: np.ndarray, doc_len: np.ndarray, avgdl: float) -> np.ndarray:
    """One term's BM25 score in sentences with ``tf`` occurrences and ``doc_len`` terms:
    rank-bm25's expression, operation for operation (int64 counts, as it has them)."""
    return idf * (tf * (K1 + 1) / (tf + K1 * (1 - B + B * doc_len / avgdl)))


def totals_of(dfs: np.ndarray, *, sentences: int, tokens: int, max_sentence_id: int) -> Totals:
    """The totals of a corpus whose vocabulary has the document frequencies ``dfs``."""
    return Totals(
        sentences=sentences,
        tokens=tokens,
        terms=len(dfs),
        idf_sum=idf_sum(dfs, sentences),
        max_sentence_id=max_sentence_id,
    )


def latest(figures: Iterable[dict]) -> dict:
    """Of several copies of the corpus-wide figures (one a shard), the newest: the one
    that has seen the highest sentence id (a shard that missed an ingest lags)."""
    best: dict = {}
    for got in figures:
        if got.get("max_sentence_id", -1) >= best.get("max_sentence_id", -1):
            best = got
    return best


def merged(counts: Iterable[dict], corpus: dict) -> Totals:
    """The totals of a corpus split over shards: each shard's ``counts`` (sentences,
    tokens) added, the corpus-wide figures (vocabulary, idf sum, last id) from ``corpus``."""
    sentences = tokens = 0
    for c in counts:
        sentences += c.get("sentences", 0)
        tokens += c.get("tokens", 0)
    return Totals(
        sentences=sentences,
        tokens=tokens,
        terms=corpus.get("terms", 0),
        idf_sum=corpus.get("idf_sum", 0.0),
        max_sentence_id=corpus.get("max_sentence_id", 0),
    )
