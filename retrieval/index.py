"""BM25Okapi over postings kept in SQLite: the query reads and scores only its own terms.

The scores are rank-bm25's ``BM25Okapi`` scores (k1=1.5, b=0.75, epsilon=0.25: a term
in more than half the sentences gets idf ``epsilon * mean idf``), computed with the same
float operations in the same order, so they agree to rounding (only the mean idf is
summed in another order). rank-bm25 is the oracle
the tests compare against; unlike it, nothing here grows with the corpus at start-up.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import compress, repeat

import numpy as np

from retrieval import text as textmod
from retrieval.store import ID_DTYPE, LEN_DTYPE, TF_DTYPE, Postings, Store, Totals

K1 = 1.5
B = 0.75
EPSILON = 0.25
LEN_MAX = int(np.iinfo(LEN_DTYPE).max)


@dataclass(frozen=True)
class Ranked:
    """Top sentences for a query: ids and scores, best first (ties: lower id first), and
    what it takes to score any other sentence for the same query."""

    ids: np.ndarray
    scores: np.ndarray
    idf: dict[str, float]  # idf of each distinct query term in the vocabulary
    terms: tuple[str, ...] = ()  # the query terms, in order, duplicates kept
    postings: dict[str, Postings] = field(default_factory=dict, repr=False, compare=False)
    avgdl: float = 0.0
    sentences: int = 0  # N, the corpus size the idf values were computed with

    def score_tokens(self, docs: Sequence[Sequence[str]]) -> np.ndarray:
        """BM25 scores of token lists outside the index (article titles, say) with this
        query's idf and average length: rank-bm25's expression, term by term in order."""
        lens = np.array([len(d) for d in docs], np.int64)
        counts = [Counter(d) for d in docs]
        out = np.zeros(len(docs))
        for t in self.terms:
            if t in self.idf:
                tf = np.array([c.get(t, 0) for c in counts], np.int64)
                out += _bm25(self.idf[t], tf, lens, self.avgdl)
        return out

    def score(self, ids: Sequence[int]) -> np.ndarray:
        """The exact BM25 scores of any sentences for this query, from the postings
        already read (a binary search per term, no tokenizing); 0 for no query term."""
        if not self.postings or not len(ids):
            return np.zeros(len(ids))
        return scores_at(
            np.asarray(ids, ID_DTYPE), self.postings, self.idf, list(self.terms), self.avgdl
        )

    def frequencies(self) -> dict[str, int]:
        """How many sentences hold each query term the vocabulary has (its df)."""
        return {t: p.df for t, p in self.postings.items()}

    def contains(self, ids: Sequence[int]) -> dict[str, np.ndarray]:
        """For each query term in the vocabulary, which of ``ids`` hold it (from the
        postings already read: a binary search per term, no tokenizing)."""
        at = np.asarray(ids, ID_DTYPE)
        out = {}
        for t, post in self.postings.items():
            pos = np.searchsorted(post.ids, at)
            pos[pos == len(post.ids)] = 0
            out[t] = post.ids[pos] == at if len(post.ids) else np.zeros(len(at), bool)
        return out


def union(lists: Iterable[np.ndarray]) -> np.ndarray:
    """The sorted distinct ids of several postings lists (sort and drop repeats: several
    times faster than ``np.unique``, which hashes, on hundreds of thousands of ids)."""
    ids = np.sort(np.concatenate(list(lists)))
    if len(ids) < 2:
        return ids
    return ids[np.concatenate(([True], ids[1:] != ids[:-1]))]


def idf_of(df: int, totals: Totals) -> float:
    """rank-bm25's idf with its floor for terms in more than half the sentences."""
    idf = math.log(totals.sentences - df + 0.5) - math.log(df + 0.5)
    if idf < 0:
        idf = EPSILON * (totals.idf_sum / totals.terms)
    return idf


def _bm25(idf: float, q_freq: np.ndarray, doc_len: np.ndarray, avgdl: float) -> np.ndarray:
    """rank-bm25's expression, operation for operation (int64 counts, as it has them)."""
    return idf * (q_freq * (K1 + 1) / (q_freq + K1 * (1 - B + B * doc_len / avgdl)))


def term_scores(post: Postings, idf: float, avgdl: float) -> np.ndarray:
    """One term's contribution to each sentence in its postings (rank-bm25's formula).

    Most postings have tf 1, so their scores come from a table over sentence lengths
    (the same expression on the same values, so the same floats) with one gather; only
    the tf > 1 postings are computed one by one."""
    if len(post.lens) == 0:
        return np.empty(0)
    longest = int(post.lens.max())
    table = _bm25(idf, np.ones(longest + 1, np.int64), np.arange(longest + 1), avgdl)
    out = table[post.lens]
    repeated = np.flatnonzero(post.tfs != 1)
    if len(repeated):
        out[repeated] = _bm25(
            idf,
            post.tfs[repeated].astype(np.int64),
            post.lens[repeated].astype(np.int64),
            avgdl,
        )
    return out


def rank(store: Store, terms: list[str], need: int) -> Ranked:
    """Score ``terms`` (duplicates count, as in rank-bm25) and keep the best ``need``.

    Work is proportional to the postings of the query's terms, never to the corpus.
    When the postings are long, MaxScore pruning (:func:`_rank_pruned`) first tries to
    prove the top ``need`` from the rarer terms' sentences alone; otherwise every
    posting is scored into a per-thread scratch array indexed by sentence id, which only
    the postings touch and which is cleared by the same postings afterwards (when the
    postings are dense, the top is then found by one comparison against a lower bound of
    the ``need``-th best score). All give the same sentences, scores and order.

    A store that ranks itself (the Xapian backend, retrieval/backend.py) is asked to.
    """
    if not isinstance(store, Store):
        return store.rank(terms, need)
    with store.read():  # N and the postings from one snapshot, even during an ingest
        totals = store.totals()
        distinct = list(dict.fromkeys(terms))
        postings = store.postings(distinct)
    idf = {t: idf_of(postings[t].df, totals) for t in distinct if t in postings}
    if not postings or totals.sentences == 0:
        return Ranked(np.empty(0, ID_DTYPE), np.empty(0), idf, sentences=totals.sentences)
    avgdl = totals.tokens / totals.sentences
    lists = tuple(p.ids for p in postings.values())
    if len(postings) > 1 and sum(map(len, lists)) >= PRUNE_MIN_POSTINGS:
        pruned = _rank_pruned(postings, idf, terms, avgdl, need)
        if pruned is not None:
            ids, scores = pruned
            order = np.lexsort((ids, -scores))[:need]
            return Ranked(
                ids[order], scores[order], idf, tuple(terms), postings, avgdl, totals.sentences
            )
    contrib = {t: term_scores(postings[t], idf[t], avgdl) for t in postings}
    if len(postings) == 1:
        # One distinct term: its postings are the candidates; no scratch array needed.
        (term,) = postings
        ids, scores = postings[term].ids, np.zeros(len(lists[0]))
        for t in terms:  # 0 + c (+ c ...): the same float sums as rank-bm25
            if t == term:
                scores += contrib[term]
    else:
        size = totals.max_sentence_id + 1
        found = None
        if sum(map(len, lists)) >= SCAN_SHARE * size and all(w > 0 for w in idf.values()):
            # Dense postings: one bincount sums every term's scores in query order (its
            # C loop adds 0 + c1 + c2 ... per sentence, as rank-bm25 does), faster than
            # scattering into the scratch array term by term.
            order = [t for t in terms if t in postings]
            dense = np.bincount(
                np.concatenate([postings[t].ids for t in order]),
                weights=np.concatenate([contrib[t] for t in order]),
                minlength=size,
            )
            found = _above_lower_bound(dense, postings, need)
        if found is not None:
            ids, scores = found
        else:
            dense = _scratch(size)
            try:
                for t in terms:  # query order, duplicates included: rank-bm25's float sums
                    if t in postings:
                        dense[postings[t].ids] += contrib[t]
                ids = np.concatenate(lists)
                scores = dense[ids]
            finally:
                for post_ids in lists:
                    dense[post_ids] = 0.0
    # With several terms ``ids`` repeats a sentence once per query term it contains, so
    # the best ``need`` sentences are among the best ``need * len(postings)`` entries: a
    # sentence below that many entries is beaten by at least ``need`` others. Everything
    # tied with the threshold is kept so the tie-break below is exact.
    keep = need * len(postings)
    if keep < len(ids):
        kth = np.partition(scores, len(scores) - keep)[len(scores) - keep]
        chosen = scores >= kth
        ids, scores = ids[chosen], scores[chosen]
    if len(postings) > 1:
        ids, first = np.unique(ids, return_index=True)
        scores = scores[first]
    order = np.lexsort((ids, -scores))[:need]
    return Ranked(ids[order], scores[order], idf, tuple(terms), postings, avgdl, totals.sentences)


# When the postings cover this share of all sentence ids, one comparison over the score
# array (:func:`_above_lower_bound`) is cheaper than gathering and partitioning them all.
SCAN_SHARE = 0.125
SCAN_SAMPLE = 20_000  # sentences whose scores set the lower bound


def _above_lower_bound(
    dense: np.ndarray, postings: dict[str, Postings], need: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The sentences scoring at least the ``need``-th best score among the sentences of
    the shortest postings: those are real sentences with their full scores, so the true
    ``need``-th best is at least that, and every sentence of the top (and every tie) is
    kept. ``None`` when the shortest postings hold fewer than ``need`` sentences."""
    shortest = sorted(postings.values(), key=lambda p: len(p.ids))
    if len(shortest[0].ids) >= need:
        # One postings list holds distinct ids; a stride of it is still real sentences
        # and bounds the top as well, for a fraction of the work.
        known = shortest[0].ids[:: max(1, len(shortest[0].ids) // SCAN_SAMPLE)]
    else:
        # Enough of the next-shortest lists to hold ``need`` sentences, no more.
        lengths = np.cumsum([len(p.ids) for p in shortest])
        upto = int(np.searchsorted(lengths, need)) + 1
        known = union([p.ids for p in shortest[:upto]])
    if len(known) < need:
        return None
    scores = dense[known]
    floor = np.partition(scores, len(scores) - need)[len(scores) - need]
    ids = np.flatnonzero(dense >= floor).astype(ID_DTYPE)
    return ids, dense[ids]


# MaxScore pays off only on long postings; below this many, scoring everything is cheaper.
PRUNE_MIN_POSTINGS = 50_000
# Scoring a candidate costs a binary search per term, a posting in the full path about as
# much as one search: pruning gives up once (candidates scored × terms) would exceed this
# share of all postings, so a failed attempt adds at most that much to the full path.
PRUNE_BUDGET = 0.2


def upper_bound(post: Postings, idf: float, avgdl: float) -> float:
    """The highest score any sentence can get from this term (for idf > 0): BM25 falls as
    a sentence gets longer, so the best tf = 1 posting is the shortest sentence; the few
    postings with tf > 1 are scored one by one."""
    best = float(_bm25(idf, np.ones(1, np.int64), post.lens.min(keepdims=True), avgdl)[0])
    repeated = np.flatnonzero(post.tfs != 1)
    if len(repeated):
        best = max(best, float(_bm25(
            idf, post.tfs[repeated].astype(np.int64), post.lens[repeated].astype(np.int64),
            avgdl,
        ).max()))  # fmt: skip
    return best


def scores_at(
    candidates: np.ndarray,
    postings: dict[str, Postings],
    idf: dict[str, float],
    terms: list[str],
    avgdl: float,
) -> np.ndarray:
    """Exact scores of the ``candidates`` (sorted ids): each term's postings are searched
    for them, and contributions are added in query order, as rank-bm25 adds them."""
    per_term = {}
    for t, post in postings.items():
        pos = np.searchsorted(post.ids, candidates)
        pos[pos == len(post.ids)] = 0
        hit = post.ids[pos] == candidates
        c = np.zeros(len(candidates))
        at = pos[hit]
        c[hit] = _bm25(idf[t], post.tfs[at].astype(np.int64), post.lens[at].astype(np.int64), avgdl)
        per_term[t] = c
    scores = np.zeros(len(candidates))
    for t in terms:
        if t in per_term:
            scores += per_term[t]
    return scores


def _rank_pruned(
    postings: dict[str, Postings],
    idf: dict[str, float],
    terms: list[str],
    avgdl: float,
    need: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """MaxScore (Turtle & Flood 1995), exact: ``None`` when it cannot prove the top.

    Terms are ordered by their best possible contribution, highest first. A sentence
    that holds none of the first ``i`` terms scores at most the sum of the other terms'
    bounds; once that sum is below a score some ``need`` sentences are known to reach,
    no such sentence can enter the top (nor tie with it), so the top is among the
    sentences of the first ``i`` ("essential") terms, scored exactly on every term, and
    the rest of the long postings are never scored. Two rounds at most: the sentences of
    the shortest-list prefix give that threshold, then the essential ones are scored
    (when they are many, only those that their essential terms' exact contributions
    plus the other terms' bounds still let reach it: :func:`_could_reach`).
    """
    if any(w <= 0 for w in idf.values()):
        return None  # bounds assume scores grow with tf and shrink with length
    # In candidates scored by binary search.
    budget = PRUNE_BUDGET * sum(len(p.ids) for p in postings.values()) / len(postings)
    if min(len(p.ids) for p in postings.values()) > budget / 2:
        return None  # round 1 below cannot start: spare computing the bounds
    times = Counter(terms)
    bound = {t: upper_bound(p, idf[t], avgdl) * times[t] for t, p in postings.items()}
    by_bound = sorted(postings, key=lambda t: (-bound[t], t))
    rest = [sum(bound[t] for t in by_bound[i:]) for i in range(len(by_bound) + 1)]
    length = [len(postings[t].ids) for t in by_bound]

    def score(i: int) -> tuple[np.ndarray, np.ndarray, float]:
        """The sentences of the first ``i`` terms, their scores, the need-th best score
        (-inf when they are fewer than ``need``)."""
        candidates = union([postings[t].ids for t in by_bound[:i]])
        scores = scores_at(candidates, postings, idf, terms, avgdl)
        if len(scores) < need:
            return candidates, scores, -np.inf
        kth = np.partition(scores, len(scores) - need)[len(scores) - need]
        return candidates, scores, kth

    # Round 1: the longest prefix that fits half the budget, to learn a threshold.
    first = 0
    while first < len(by_bound) - 1 and sum(length[: first + 1]) <= budget / 2:
        first += 1
    if first == 0 or sum(length[:first]) < need:
        return None
    candidates, scores, kth = score(first)
    if kth <= 0:
        return None
    # The fewest terms whose sentences must hold the top (rest[-1] is 0 < kth).
    essential = next(i for i, bound_of_rest in enumerate(rest) if bound_of_rest < kth)
    if essential > first:  # round 2: more terms are essential than round 1 scored
        if sum(length[:essential]) <= budget / 2:
            candidates, scores, kth = score(essential)
        elif sum(length[:essential]) <= PRUNE_EXACT_SHARE * sum(length):
            exact = {
                t: (postings[t].ids, term_scores(postings[t], idf[t], avgdl) * times[t])
                for t in _cheap_terms(postings, by_bound[:essential], by_bound[essential:])
            }
            candidates = _could_reach(
                [postings[t].ids for t in by_bound[:essential]],
                exact,
                sum(bound[t] for t in by_bound if t not in exact),
                kth,
            )
            if len(candidates) > budget:
                return None
            scores = scores_at(candidates, postings, idf, terms, avgdl)
        else:
            return None
    keep = scores >= kth
    return candidates[keep], scores[keep]


# Round 2 of pruning scores whole postings lists (no binary search), up to this share
# of all the query's postings.
PRUNE_EXACT_SHARE = 0.5


def _cheap_terms(
    postings: dict[str, Postings], essential: list[str], others: list[str]
) -> list[str]:
    """The essential terms, then the other terms shortest first while all their postings
    stay within PRUNE_EXACT_SHARE of the query's: those get exact contributions in
    :func:`_could_reach`, the longest ones only their bound."""
    total = sum(len(p.ids) for p in postings.values())
    chosen, used = list(essential), sum(len(postings[t].ids) for t in essential)
    for t in sorted(others, key=lambda t: len(postings[t].ids)):
        used += len(postings[t].ids)
        if used > PRUNE_EXACT_SHARE * total:
            break
        chosen.append(t)
    return chosen


def _could_reach(
    lists: list[np.ndarray],
    exact: dict[str, tuple[np.ndarray, np.ndarray]],
    rest: float,
    kth: float,
) -> np.ndarray:
    """The sentences in ``lists`` that can still score ``kth``: their contributions from
    the ``exact`` terms ((ids, contributions) per term, times the term's count in the
    query; summed through the scratch array in no particular order) plus ``rest``, the
    bounds of all other terms. A relative margin of 1e-9, far above the rounding of
    these sums, keeps every sentence that can tie; the survivors are scored exactly."""
    dense = _scratch(max(int(ids[-1]) for ids, _ in exact.values()) + 1)
    try:
        for ids, contributions in exact.values():
            dense[ids] += contributions
        candidates = union(lists)
        reach = dense[candidates] + rest
    finally:
        for ids, _ in exact.values():
            dense[ids] = 0.0
    return candidates[reach >= kth * (1 - 1e-9)]


_local = threading.local()


def _scratch(size: int) -> np.ndarray:
    """This thread's zeroed score array, at least ``size`` long (grown with headroom, so
    ingests do not reallocate it at every question)."""
    dense = getattr(_local, "dense", None)
    if dense is None or len(dense) < size:
        dense = _local.dense = np.zeros(int(size * 1.25) + 1024)
    return dense


# -- building ---------------------------------------------------------------------------


class PostingsBuilder:
    """Collects the postings of an ingest batch in flat arrays, then appends them to the
    ``terms`` table: one read-append-write per touched term.

    Sentences come as chunks already counted by an ingest worker's :class:`Vocabulary`
    (:meth:`add_chunk`); sentence ids must ascend across calls, so that appending keeps
    every stored postings array sorted.
    """

    def __init__(self) -> None:
        self.terms: dict[str, int] = {}
        self._vocabularies: dict[str, np.ndarray] = {}  # Chunk.owner -> ids in self.terms
        # Pending postings as one sortable key each (term id << 32 | sentence id); term
        # counts only where not 1 (almost every posting has tf 1); lengths per sentence.
        self._keys: list[np.ndarray] = []
        self._repeated_keys: list[np.ndarray] = []
        self._repeated_tfs: list[np.ndarray] = []
        self._sentence_ids: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self.pending = 0  # postings not yet written
        self.tokens = 0
        self.sentences = 0

    def add_chunk(self, first_id: int, chunk: Chunk) -> None:
        """Add the sentences of a :class:`Chunk`, numbered from ``first_id``."""
        global_ids = self._global_ids(chunk)
        self._pend(
            global_ids[chunk.post_terms],
            chunk.post_sents + first_id,
            chunk.post_tfs,
            np.arange(first_id, first_id + len(chunk.lengths), dtype=ID_DTYPE),
            chunk.lengths,
        )
        self.tokens += int(chunk.lengths.sum(dtype=np.int64))
        self.sentences += len(chunk.lengths)

    def _global_ids(self, chunk: Chunk) -> np.ndarray:
        """This batch's term id for each term id of the chunk's vocabulary (each
        vocabulary's chunks come in the order it made them)."""
        known = self._vocabularies.get(chunk.owner, np.empty(0, np.int64))
        if len(known) != chunk.first_new:
            raise ValueError("a chunk arrived before an earlier one of its vocabulary")
        if chunk.new_terms:
            ids = self.terms
            new = [ids.setdefault(t, len(ids)) for t in chunk.new_terms]
            known = self._vocabularies[chunk.owner] = np.concatenate((known, new))
        return known

    def _pend(
        self,
        term_ids: np.ndarray,
        post_sentence_ids: np.ndarray,
        tfs: np.ndarray,
        sentence_ids: np.ndarray,
        lengths: np.ndarray,
    ) -> None:
        """Keep postings (term ids, sentence ids, term counts) and their sentences'
        lengths until the next flush."""
        if not len(term_ids):
            return
        keys = (term_ids.astype(np.int64) << 32) | post_sentence_ids.astype(np.int64)
        self._keys.append(keys)
        repeated = tfs != 1
        if repeated.any():
            self._repeated_keys.append(keys[repeated])
            self._repeated_tfs.append(tfs[repeated].astype(TF_DTYPE))
        self._sentence_ids.append(sentence_ids)
        self._lengths.append(lengths)
        self.pending += len(keys)

    def flush(self, store: Store) -> None:
        """Append the pending postings to ``store`` (inside the caller's transaction).
        Totals are the caller's to refresh (:func:`refresh_totals`), once per batch."""
        if not self._keys:
            return
        term_ids, sent_ids, tfs, lens = self._take_by_term()
        bounds = np.flatnonzero(np.diff(term_ids)) + 1
        starts = np.concatenate(([0], bounds)).tolist()
        ends = np.concatenate((bounds, [len(term_ids)])).tolist()
        names = list(self.terms)
        firsts = [names[t] for t in term_ids[starts].tolist()]
        # Each term's postings are slices of three buffers (no copy until SQLite's).
        ids_view, tfs_view, lens_view = memoryview(sent_ids), memoryview(tfs), memoryview(lens)
        conn = store.conn
        inserts = []
        for at in range(0, len(firsts), _FLUSH_BATCH):
            stored = _stored_postings(conn, firsts[at : at + _FLUSH_BATCH])
            updates = []
            for term, s, e in zip(
                firsts[at : at + _FLUSH_BATCH],
                starts[at : at + _FLUSH_BATCH],
                ends[at : at + _FLUSH_BATCH],
                strict=True,
            ):
                new = (ids_view[s:e], tfs_view[s:e], lens_view[s:e])
                row = stored.get(term)
                if row is None:
                    inserts.append((term, e - s, *new))
                else:
                    df, ids, tf, ln = row
                    updates.append((df + e - s, ids + new[0], tf + new[1], ln + new[2], term))
            conn.executemany(
                "UPDATE terms SET df = ?, ids = ?, tfs = ?, lens = ? WHERE term = ?", updates
            )
        # In term order: row ids then do not depend on which worker met a term first.
        inserts.sort(key=lambda row: row[0])
        conn.executemany(
            "INSERT INTO terms (term, df, ids, tfs, lens) VALUES (?, ?, ?, ?, ?)", inserts
        )

    def _take_by_term(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pending postings, emptied, ordered by term then sentence id: term ids,
        sentence ids, term counts, sentence lengths."""
        keys = np.concatenate(self._keys)
        # Sorting the keys alone (no argsort, no gathers of the other columns) is the
        # costliest step of a flush: the term counts and lengths are found afterwards.
        keys.sort()
        sentence_ids = (keys & 0xFFFFFFFF).astype(ID_DTYPE)
        tfs = np.ones(len(keys), TF_DTYPE)
        if self._repeated_keys:
            at = np.searchsorted(keys, np.concatenate(self._repeated_keys))
            tfs[at] = np.concatenate(self._repeated_tfs)
        lens = _lengths_at(
            sentence_ids, np.concatenate(self._sentence_ids), np.concatenate(self._lengths)
        )
        self._keys, self._repeated_keys, self._repeated_tfs = [], [], []
        self._sentence_ids, self._lengths = [], []
        self.pending = 0
        return keys >> 32, sentence_ids, tfs, lens

    def merge_into(self, store: Store, max_sentence_id: int) -> None:
        """Append the batch's postings to ``store`` (inside the caller's transaction) and
        refresh the corpus totals."""
        old = store.totals()
        self.flush(store)
        refresh_totals(
            store,
            sentences=old.sentences + self.sentences,
            tokens=old.tokens + self.tokens,
            max_sentence_id=max(old.max_sentence_id, max_sentence_id),
        )


@dataclass
class Chunk:
    """Consecutive sentences counted into postings (by an ingest worker): one entry per
    (sentence, term), sentence indices from 0, term ids of the worker's
    :class:`Vocabulary`, whose terms not yet sent come along in ``new_terms``."""

    owner: str  # the Vocabulary whose term ids these are
    first_new: int  # the id of new_terms[0]: every lower id came in an earlier chunk
    new_terms: list[str]
    post_terms: np.ndarray  # term id in the owner's vocabulary
    post_sents: np.ndarray  # sentence index within the chunk, ascending
    post_tfs: np.ndarray  # term count in that sentence (TF_DTYPE)
    lengths: np.ndarray  # tokens per sentence (LEN_DTYPE)

    def without(self, ranges: list[tuple[int, int]]) -> Chunk:
        """The chunk less the sentences in ``ranges`` (start, end), renumbered."""
        keep = np.ones(len(self.lengths), bool)
        for start, end in ranges:
            keep[start:end] = False
        new_index = np.cumsum(keep) - 1
        posts = keep[self.post_sents]
        return replace(
            self,
            post_terms=self.post_terms[posts],
            post_sents=new_index[self.post_sents[posts]].astype(np.int32),
            post_tfs=self.post_tfs[posts],
            lengths=self.lengths[keep],
        )


# Vocabulary ids that are not terms.
_STOPWORD = -1
_SEPARATOR = -2
_UNKNOWN = -3


class Vocabulary:
    """Term ids for one ingest worker, kept from file to file: each distinct match of
    the tokenizer is normalised, stemmed and looked up once, after which a sentence's
    terms cost one dict lookup per word, and only new terms travel to the writer.

    Texts are tokenized a batch at a time (:func:`retrieval.text.matches`), which gives
    the same terms as :func:`retrieval.text.tokenize` text by text."""

    # Distinct matches remembered (~100 bytes each); beyond, the cache starts over.
    WORDS_MAX = 300_000

    def __init__(self) -> None:
        self.owner = uuid.uuid4().hex
        self.terms: dict[str, int] = {}
        self._names: list[str] = []  # by id
        self._sent = 0  # terms already sent in a chunk
        self._words: dict[str, int] = {textmod.SEPARATOR: _SEPARATOR}

    def count(self, texts: list[str]) -> Chunk:
        """Count the terms of consecutive sentences into a :class:`Chunk`."""
        found = textmod.matches(texts)
        if found is None:
            return self._chunk(np.array(self._ids_one_by_one(texts), np.int64), len(texts))
        # One C-level pass of lookups; the matches never seen (or forgotten) are then
        # learnt all at once and patched in.
        ids = np.array(list(map(self._words.get, found, repeat(_UNKNOWN))), np.int64)
        unknown = ids == _UNKNOWN
        if unknown.any():
            missing = list(compress(found, unknown.tolist()))
            self._learn(missing)
            ids[unknown] = list(map(self._words.__getitem__, missing))
        return self._chunk(ids, len(texts))

    def _learn(self, matches: list[str]) -> None:
        words = self._words
        new = list(dict.fromkeys(matches))
        if len(words) + len(new) > self.WORDS_MAX:
            words.clear()
            words[textmod.SEPARATOR] = _SEPARATOR
        for word, term in zip(new, textmod.terms_of(new), strict=True):
            words[word] = _STOPWORD if term is None else self._id(term)

    def _id(self, term: str) -> int:
        terms = self.terms
        found = terms.get(term)
        if found is None:
            found = terms[term] = len(self._names)
            self._names.append(term)
        return found

    def _ids_one_by_one(self, texts: list[str]) -> list[int]:
        ids = []
        for text in texts:
            ids.extend(map(self._id, textmod.tokenize(text)))
            ids.append(_SEPARATOR)
        return ids

    def _chunk(self, ids: np.ndarray, n_texts: int) -> Chunk:
        """Postings from the term ids of ``n_texts`` texts, each text's followed by
        a separator: a (sentence, term) key per token, then one sort."""
        sentence = np.cumsum(ids == _SEPARATOR)
        kept = ids >= 0
        sentence, ids = sentence[kept], ids[kept]
        lengths = np.bincount(sentence, minlength=n_texts)
        if len(lengths) and lengths.max() > LEN_MAX:
            raise ValueError("sentence too long to index")
        n_terms = max(len(self._names), 1)
        keys, tfs = np.unique(sentence * n_terms + ids, return_counts=True)
        new_terms, first_new = self._names[self._sent :], self._sent
        self._sent = len(self._names)
        return Chunk(
            owner=self.owner,
            first_new=first_new,
            new_terms=new_terms,
            post_terms=(keys % n_terms).astype(np.int32),
            post_sents=(keys // n_terms).astype(np.int32),
            post_tfs=tfs.astype(TF_DTYPE),
            lengths=lengths.astype(LEN_DTYPE),
        )


def _lengths_at(at: np.ndarray, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The lengths of sentences ``at``, given every sentence's (``ids`` ascending,
    ``lengths``): through a dense table when the ids are about contiguous (ingests
    number sentences consecutively), else by binary search."""
    low, span = int(ids[0]), int(ids[-1]) - int(ids[0]) + 1
    if span > 4 * len(ids):
        return lengths[np.searchsorted(ids, at)]
    table = np.zeros(span, LEN_DTYPE)
    table[ids - low] = lengths
    return table[at - low]


# Terms looked up (and updated) per statement when postings are flushed: within
# SQLite's 999 host parameters.
_FLUSH_BATCH = 900


def _stored_postings(conn: sqlite3.Connection, terms: list[str]) -> dict[str, tuple]:
    """``{term: (df, ids, tfs, lens)}`` of those ``terms`` already in the store."""
    marks = ",".join("?" * len(terms))
    rows = conn.execute(
        f"SELECT term, df, ids, tfs, lens FROM terms WHERE term IN ({marks})", terms
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def remove_sentences(store: Store, ids: np.ndarray, terms: Iterable[str]) -> None:
    """Drop the sentence ``ids`` (sorted) from the postings of ``terms``."""
    ids = np.asarray(ids, dtype=ID_DTYPE)
    conn = store.conn
    for term in set(terms):
        row = conn.execute("SELECT ids, tfs, lens FROM terms WHERE term = ?", (term,)).fetchone()
        if row is None:
            continue
        have = np.frombuffer(row[0], ID_DTYPE)
        keep = ~np.isin(have, ids, assume_unique=True)
        if keep.all():
            continue
        if not keep.any():
            conn.execute("DELETE FROM terms WHERE term = ?", (term,))
            continue
        tfs = np.frombuffer(row[1], TF_DTYPE)
        lens = np.frombuffer(row[2], LEN_DTYPE)
        conn.execute(
            "UPDATE terms SET df = ?, ids = ?, tfs = ?, lens = ? WHERE term = ?",
            (
                int(keep.sum()),
                have[keep].tobytes(),
                tfs[keep].tobytes(),
                lens[keep].tobytes(),
                term,
            ),
        )


def refresh_totals(store: Store, *, sentences: int, tokens: int, max_sentence_id: int) -> None:
    """Recompute vocabulary size and the idf sum (it depends on N, so every term counts)."""
    dfs = np.fromiter(
        (row[0] for row in store.conn.execute("SELECT df FROM terms")), dtype=np.float64
    )
    idf_sum = float(np.sum(np.log(sentences - dfs + 0.5) - np.log(dfs + 0.5))) if len(dfs) else 0.0
    store.set_totals(
        Totals(
            sentences=sentences,
            tokens=tokens,
            terms=len(dfs),
            idf_sum=idf_sum,
            max_sentence_id=max_sentence_id,
        )
    )
