"""BM25Okapi over postings kept in SQLite: the query reads and scores only its own terms.

The scores are rank-bm25's ``BM25Okapi`` scores (k1=1.5, b=0.75, epsilon=0.25: a term
in more than half the sentences gets idf ``epsilon * mean idf``), computed with the same
float operations in the same order, so they agree to rounding (only the mean idf is
summed in another order). rank-bm25 is the oracle
the tests compare against; unlike it, nothing here grows with the corpus at start-up.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from retrieval.store import ID_DTYPE, LEN_DTYPE, TF_DTYPE, Postings, Store, Totals

K1 = 1.5
B = 0.75
EPSILON = 0.25


@dataclass(frozen=True)
class Ranked:
    """Top sentences for a query: ids and scores, best first (ties: lower id first)."""

    ids: np.ndarray
    scores: np.ndarray
    idf: dict[str, float]  # idf of each distinct query term in the vocabulary
    matched: int  # how many sentences contain at least one query term


def idf_of(df: int, totals: Totals) -> float:
    """rank-bm25's idf with its floor for terms in more than half the sentences."""
    idf = math.log(totals.sentences - df + 0.5) - math.log(df + 0.5)
    if idf < 0:
        idf = EPSILON * (totals.idf_sum / totals.terms)
    return idf


def term_scores(post: Postings, idf: float, avgdl: float) -> np.ndarray:
    """One term's contribution to each sentence in its postings (rank-bm25's formula)."""
    q_freq = post.tfs.astype(np.int64)
    doc_len = post.lens.astype(np.int64)
    return idf * (q_freq * (K1 + 1) / (q_freq + K1 * (1 - B + B * doc_len / avgdl)))


def rank(store: Store, terms: list[str], need: int) -> Ranked:
    """Score ``terms`` (duplicates count, as in rank-bm25) and keep the best ``need``."""
    totals = store.totals()
    distinct = list(dict.fromkeys(terms))
    postings = store.postings(distinct)
    idf = {t: idf_of(postings[t].df, totals) for t in distinct if t in postings}
    empty = Ranked(np.empty(0, ID_DTYPE), np.empty(0), idf, 0)
    if not postings or totals.sentences == 0:
        return empty
    avgdl = totals.tokens / totals.sentences
    # A dense score array indexed by sentence id: zeros are allocated lazily by the OS,
    # so only pages holding the query's postings are touched.
    dense = np.zeros(totals.max_sentence_id + 1)
    contrib = {t: term_scores(postings[t], idf[t], avgdl) for t in postings}
    for t in terms:  # query order, duplicates included: same float sums as rank-bm25
        if t in postings:
            dense[postings[t].ids] += contrib[t]
    candidates = np.unique(np.concatenate([postings[t].ids for t in postings]))
    matched = len(candidates)
    scores = dense[candidates]
    if need < len(candidates):
        # Keep everything tied with the need-th best so the tie-break below is exact.
        kth = np.partition(scores, len(scores) - need)[len(scores) - need]
        keep = scores >= kth
        candidates, scores = candidates[keep], scores[keep]
    order = np.lexsort((candidates, -scores))[:need]
    return Ranked(candidates[order], scores[order], idf, matched)


# -- building ---------------------------------------------------------------------------


class PostingsBuilder:
    """Collects (term, sentence, count, length) rows of an ingest batch, then merges them
    into the ``terms`` table: one read-append-write per touched term."""

    def __init__(self) -> None:
        self.terms: dict[str, int] = {}
        self._term_ids: list[np.ndarray] = []
        self._sent_ids: list[np.ndarray] = []
        self._tfs: list[np.ndarray] = []
        self._lens: list[np.ndarray] = []
        self.tokens = 0
        self.sentences = 0

    def add(self, sentence_id: int, tokens: Iterable[str]) -> int:
        """Add one sentence's tokens; returns its length (token count)."""
        counts = Counter(tokens)
        length = sum(counts.values())
        if length > np.iinfo(LEN_DTYPE).max:
            raise ValueError("sentence too long to index")
        ids = [self.terms.setdefault(t, len(self.terms)) for t in counts]
        n = len(ids)
        self._term_ids.append(np.array(ids, np.int64))
        self._sent_ids.append(np.full(n, sentence_id, ID_DTYPE))
        self._tfs.append(np.fromiter(counts.values(), TF_DTYPE, n))
        self._lens.append(np.full(n, length, LEN_DTYPE))
        self.tokens += length
        self.sentences += 1
        return length

    def merge_into(self, store: Store, max_sentence_id: int) -> None:
        """Append the batch's postings to ``store`` (inside the caller's transaction) and
        refresh the corpus totals. Sentence ids of a batch exceed all stored ones, so
        appending keeps every postings array sorted."""
        old = store.totals()
        if self._term_ids:
            term_ids = np.concatenate(self._term_ids)
            order = np.argsort(term_ids, kind="stable")
            term_ids = term_ids[order]
            sent_ids = np.concatenate(self._sent_ids)[order]
            tfs = np.concatenate(self._tfs)[order]
            lens = np.concatenate(self._lens)[order]
            bounds = np.flatnonzero(np.diff(term_ids)) + 1
            starts = np.concatenate(([0], bounds))
            ends = np.concatenate((bounds, [len(term_ids)]))
            names = list(self.terms)
            conn = store.conn
            for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
                term = names[term_ids[s]]
                row = conn.execute(
                    "SELECT df, ids, tfs, lens FROM terms WHERE term = ?", (term,)
                ).fetchone()
                new = (sent_ids[s:e].tobytes(), tfs[s:e].tobytes(), lens[s:e].tobytes())
                if row is None:
                    conn.execute(
                        "INSERT INTO terms (term, df, ids, tfs, lens) VALUES (?, ?, ?, ?, ?)",
                        (term, e - s, *new),
                    )
                else:
                    conn.execute(
                        "UPDATE terms SET df = ?, ids = ?, tfs = ?, lens = ? WHERE term = ?",
                        (row[0] + e - s, row[1] + new[0], row[2] + new[1], row[3] + new[2], term),
                    )
        refresh_totals(
            store,
            sentences=old.sentences + self.sentences,
            tokens=old.tokens + self.tokens,
            max_sentence_id=max(old.max_sentence_id, max_sentence_id),
        )


def remove_sentences(store: Store, first_id: int, last_id: int, terms: Iterable[str]) -> None:
    """Drop sentence ids ``first_id..last_id`` from the postings of ``terms``."""
    conn = store.conn
    for term in set(terms):
        row = conn.execute(
            "SELECT df, ids, tfs, lens FROM terms WHERE term = ?", (term,)
        ).fetchone()
        if row is None:
            continue
        ids = np.frombuffer(row[1], ID_DTYPE)
        keep = (ids < first_id) | (ids > last_id)
        if keep.all():
            continue
        if not keep.any():
            conn.execute("DELETE FROM terms WHERE term = ?", (term,))
            continue
        tfs = np.frombuffer(row[2], TF_DTYPE)
        lens = np.frombuffer(row[3], LEN_DTYPE)
        conn.execute(
            "UPDATE terms SET df = ?, ids = ?, tfs = ?, lens = ? WHERE term = ?",
            (int(keep.sum()), ids[keep].tobytes(), tfs[keep].tobytes(),
             lens[keep].tobytes(), term),
        )


def refresh_totals(store: Store, *, sentences: int, tokens: int, max_sentence_id: int) -> None:
    """Recompute vocabulary size and the idf sum (it depends on N, so every term counts)."""
    dfs = np.fromiter(
        (row[0] for row in store.conn.execute("SELECT df FROM terms")), dtype=np.float64
    )
    idf_sum = float(np.sum(np.log(sentences - dfs + 0.5) - np.log(dfs + 0.5))) if len(dfs) else 0.0
    store.set_totals(
        Totals(
            sentences=sentences, tokens=tokens, terms=len(dfs), idf_sum=idf_sum,
            max_sentence_id=max_sentence_id,
        )
    )
