"""Exact BM25Okapi on Xapian shards.

Xapian's BM25Weight differs from rank-bm25 in its idf (and counts the article documents
in N and the average length). Each query term is scaled with ``OP_SCALE_WEIGHT`` by
(count in the query × Okapi idf ÷ Xapian idf), and k1, b are adjusted for the average
length Xapian sees, which makes Xapian's weights BM25Okapi's to ~1e-15. The candidates
are then scored again from their documents' term counts with
:mod:`retrieval.scoring`'s formulas, so scores and tie order are the SQLite engine's,
bit for bit.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval import scoring
from retrieval.rank import Ranked
from retrieval.scoring import K1, B
from retrieval.store import ID_DTYPE
from retrieval.xapian_layout import PAYLOAD, SentenceDoc, _fetch, index_term, xapian

if TYPE_CHECKING:
    from retrieval.xapian_backend import XapianStore


def xapian_idf(doccount: int, termfreq: int) -> float:
    """Xapian 1.4 BM25Weight's idf (no relevance set)."""
    tw = (doccount - termfreq + 0.5) / (termfreq + 0.5)
    if tw < 2:
        tw = max(tw, 1e-6) / 2 + 1
    return math.log(tw)


def frequencies(db: Any, terms: list[str]) -> dict[str, int]:
    """How many sentences hold each of ``terms`` the vocabulary has (its df)."""
    dfs = {t: db.get_termfreq(index_term(t)) for t in dict.fromkeys(terms)}
    return {t: df for t, df in dfs.items() if df}


def rank(store: XapianStore, conn: Any, terms: list[str], need: int) -> Ranked:
    """BM25Okapi top ``need`` sentences through one thread's shard connections."""
    totals = store._read_totals(conn)
    db = conn.db
    dfs = frequencies(db, terms)
    idf = {t: scoring.idf(df, totals) for t, df in dfs.items()}
    if not idf or totals.sentences == 0:
        return Ranked(
            np.empty(0, ID_DTYPE), np.empty(0), idf, tuple(terms), sentences=totals.sentences,
            dfs=dfs,
        )  # fmt: skip
    avgdl = totals.tokens / totals.sentences
    enquire = xapian.Enquire(db)
    enquire.set_docid_order(xapian.Enquire.ASCENDING)
    enquire.set_collapse_key(PAYLOAD)
    times = Counter(terms)
    if all(w > 0 for w in idf.values()):
        # Xapian normalises lengths by the average it sees (article documents
        # included): k1' and b' give the same K = k1 (1 - b + b dl / avgdl), and
        # the scale factors undo (k1' + 1) and Xapian's idf.
        ratio = db.get_avlength() / avgdl
        k1 = K1 * (1 - B) + K1 * B * ratio
        b = K1 * B * ratio / k1
        enquire.set_weighting_scheme(xapian.BM25Weight(k1, 0, 0, b, 0))
        doccount = db.get_doccount()
        parts = [
            xapian.Query(
                xapian.Query.OP_SCALE_WEIGHT,
                xapian.Query(index_term(t)),
                times[t] * idf[t] * (K1 + 1) / (xapian_idf(doccount, df) * (k1 + 1)),
            )
            for t, df in dfs.items()
        ]
        enquire.set_query(xapian.Query(xapian.Query.OP_OR, parts))
        mset = _top(enquire, need)
    else:
        # A term with idf <= 0 (tiny corpora) cannot be scaled: score every match.
        enquire.set_weighting_scheme(xapian.BoolWeight())
        enquire.set_query(
            xapian.Query(xapian.Query.OP_OR, [xapian.Query(index_term(t)) for t in dfs])
        )
        mset = enquire.get_mset(0, db.get_doccount())
    docs = _fetch(mset, len(store.shards))
    conn.recent = {d.sentence.id: d for d in docs}
    ids = np.array([d.sentence.id for d in docs], np.int64)
    scores = _score_docs(docs, terms, idf, avgdl)
    order = np.lexsort((ids, -scores))[:need]
    scorer = DocScorer(store, idf, tuple(terms), avgdl, dfs)
    return Ranked(
        ids[order].astype(ID_DTYPE), scores[order], idf, tuple(terms), avgdl,
        totals.sentences, dfs, scorer,
    )  # fmt: skip


@dataclass(frozen=True)
class DocScorer:
    """Scores other sentences for a ranking from their documents' term counts (shards
    hold no postings to search)."""

    store: XapianStore
    idf: dict[str, float]
    terms: tuple[str, ...]
    avgdl: float
    dfs: dict[str, int]

    def contains(self, ids: Sequence[int]) -> dict[str, np.ndarray]:
        """Which of ``ids`` hold each term, from the documents' term counts."""
        docs = {d.sentence.id: d for d in self.store.documents([int(i) for i in ids])}
        return {
            t: np.array([i in docs and docs[i].counts.get(t, 0) > 0 for i in ids], bool)
            for t in self.dfs
        }

    def lookup(self, ids: Sequence[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.score(ids), self.contains(ids)

    def score(self, ids: Sequence[int]) -> np.ndarray:
        if not len(ids):
            return np.zeros(len(ids))
        ids = [int(i) for i in ids]
        docs = {d.sentence.id: d for d in self.store.documents(ids)}
        known = [docs[i] for i in ids if i in docs]
        scores = dict(
            zip([d.sentence.id for d in known], _score_docs(known, self.terms, self.idf,
                                                             self.avgdl), strict=True)
        )  # fmt: skip
        return np.array([scores.get(i, 0.0) for i in ids])


def _score_docs(
    docs: Sequence[SentenceDoc], terms: Sequence[str], idf: dict[str, float], avgdl: float
) -> np.ndarray:
    """rank-bm25's scores of ``docs``: each term's contribution, added in query order."""
    lens = np.array([d.length for d in docs], np.int64)
    per_term = {}
    for t in idf:
        tf = np.array([d.counts.get(t, 0) for d in docs], np.int64)
        per_term[t] = np.where(tf > 0, scoring.term_score(idf[t], tf, lens, avgdl), 0.0)
    scores = np.zeros(len(docs))
    for t in terms:
        if t in per_term:
            scores += per_term[t]
    return scores


def _top(enquire: Any, need: int) -> Any:
    """An MSet holding every sentence whose Xapian weight could put it in the exact top
    ``need`` (within 1e-9 of the ``need``-th weight): the exact scores decide after."""
    size = need + 16
    while True:
        mset = enquire.get_mset(0, size)
        if len(mset) < size or len(mset) < need:
            return mset
        kth = mset[need - 1].weight
        if mset[len(mset) - 1].weight < kth - 1e-9 * max(1.0, abs(kth)):
            return mset
        size *= 2
