"""Query time: BM25Okapi over the stored postings of a query's own terms, and pruning.

Owns :class:`Ranked` (a query's top sentences and what it takes to score others),
:func:`rank`, the BM25 expression and idf, and the exact shortcuts that skip postings
(MaxScore, the lower-bound scan) with their tuning in :class:`Pruning`. The postings are
written by :mod:`retrieval.postings` and read through :class:`retrieval.store.Store`.

The scores are rank-bm25's ``BM25Okapi`` scores, from the formulas of
:mod:`retrieval.scoring`, added in the same order, so they agree to rounding. rank-bm25
is the oracle the tests compare against; unlike it, nothing here grows with the corpus
at start-up.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from retrieval import scoring
from retrieval.store import ID_DTYPE, Postings, Store
from retrieval.term_cache import TermCache, term_cache

if TYPE_CHECKING:
    from retrieval.backend import Backend


@dataclass(frozen=True)
class Pruning:
    """When :func:`rank` takes its exact shortcuts past postings it need not score. The
    defaults are the measured ones; tests pass others to force a shortcut on a small
    corpus. Every setting gives the same sentences, scores and order."""

    # MaxScore pays off only on long postings; below this many, scoring everything is
    # cheaper.
    min_postings: int = 50_000
    # Round 1 of pruning scores, by binary search, the sentences of the highest-bound
    # terms while their postings fit in half of this share of the query's average list
    # (a search costs about what a posting costs in the full path); none fitting, it
    # gives up at once.
    budget: float = 0.2
    # Round 2 sums the essential terms' postings into the score array while they are at
    # most this share of the query's; past it, the full path costs little more.
    search_share: float = 0.5
    # A binary search costs about as much as scattering this many postings into a score
    # array (or gathering four times as many candidates from it): when one term's
    # postings and the candidates are both long, the term's list is scattered instead.
    search_cost: float = 4.0
    # When the postings cover this share of all sentence ids, one comparison over the
    # score array (:func:`_above_lower_bound`, :func:`_summed`) is cheaper than gathering
    # and partitioning them all.
    scan_share: float = 0.125
    scan_sample: int = 20_000  # sentences whose scores set that lower bound


DEFAULT_PRUNING = Pruning()


class Scorer(Protocol):
    """How a backend scores other sentences for a query it ranked (the re-ranked pool's
    neighbours): from the postings it read (SQLite), or from the sentences' own term
    counts (Xapian)."""

    def score(self, ids: Sequence[int]) -> np.ndarray:
        """The exact BM25 scores of ``ids``; 0 for a sentence without a query term."""
        ...

    def lookup(self, ids: Sequence[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`score`, and for each query term the vocabulary has, which of ``ids``
        hold it, in one pass."""
        ...


@dataclass(frozen=True)
class Ranked:
    """Top sentences for a query: ids and scores, best first (ties: lower id first), the
    figures they were scored with, and the backend's :class:`Scorer` for any other
    sentence (None when nothing matched)."""

    ids: np.ndarray
    scores: np.ndarray
    idf: dict[str, float]  # idf of each distinct query term in the vocabulary
    terms: tuple[str, ...] = ()  # the query terms, in order, duplicates kept
    avgdl: float = 0.0
    sentences: int = 0  # N, the corpus size the idf values were computed with
    dfs: dict[str, int] = field(default_factory=dict)  # df of each term in the vocabulary
    scorer: Scorer | None = field(default=None, repr=False, compare=False)

    def score(self, ids: Sequence[int]) -> np.ndarray:
        """The exact BM25 scores of any sentences for this query."""
        if self.scorer is None or not len(ids):
            return np.zeros(len(ids))
        return self.scorer.score(ids)

    def frequencies(self) -> dict[str, int]:
        """How many sentences hold each query term the vocabulary has (its df)."""
        return dict(self.dfs)

    def contains(self, ids: Sequence[int]) -> dict[str, np.ndarray]:
        """For each query term in the vocabulary, which of ``ids`` hold it."""
        return self.lookup(ids)[1]

    def lookup(self, ids: Sequence[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """:meth:`score` and :meth:`contains` of the same ``ids``, in one pass."""
        if self.scorer is None:
            return np.zeros(len(ids)), {t: np.zeros(len(ids), bool) for t in self.dfs}
        return self.scorer.lookup(ids)


@dataclass(frozen=True)
class PostingsScorer:
    """Scores from the postings a ranking read (a binary search per term, no tokenizing)."""

    postings: dict[str, Postings]
    idf: dict[str, float]
    terms: tuple[str, ...]
    avgdl: float

    def score(self, ids: Sequence[int]) -> np.ndarray:
        at = np.asarray(ids, ID_DTYPE)
        distinct = union([at])  # scores_at wants sorted ids without repeats
        scores = scores_at(distinct, self.postings, self.idf, list(self.terms), self.avgdl)
        return scores[np.searchsorted(distinct, at)]

    def lookup(self, ids: Sequence[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One binary search per term finds both the scores and which ids hold each term
        (a re-ranked pool is a few dozen sentences); the scores are :meth:`score`'s
        floats (the same contributions, added in query order)."""
        at = np.asarray(ids, ID_DTYPE)
        holds: dict[str, np.ndarray] = {}
        held, tfs, lens, counts = [], [], [], []
        for t, post in self.postings.items():
            if not len(post.ids):
                holds[t] = np.zeros(len(at), bool)
                continue
            pos = np.searchsorted(post.ids, at)
            # (An id past the last posting is searched to len(ids): clipped, it meets a
            # smaller id, so it is not held.)
            hit = holds[t] = post.ids.take(pos, mode="clip") == at
            found = pos[hit]
            held.append(t)
            tfs.append(post.tfs[found])
            lens.append(post.lens[found])
            counts.append(len(found))
        scores = np.zeros(len(at))
        if not counts:
            return scores, holds
        # Every term's hits in one expression (a few each: NumPy's cost is per call); the
        # same operations on the same values, so the same floats as one call a term.
        values = scoring.term_score(
            np.repeat([self.idf[t] for t in held], counts), np.concatenate(tfs).astype(np.int64),
            np.concatenate(lens).astype(np.int64), self.avgdl,
        )  # fmt: skip
        term_values, start = {}, 0
        for t, n in zip(held, counts, strict=True):
            term_values[t] = values[start : start + n]
            start += n
        for t in self.terms:  # query order, as score() adds them
            if t in term_values:
                scores[holds[t]] += term_values[t]
        return scores, holds


def _ranked(
    ids: np.ndarray,
    scores: np.ndarray,
    idf: dict[str, float],
    terms: list[str],
    postings: dict[str, Postings],
    avgdl: float,
    sentences: int,
) -> Ranked:
    scorer = PostingsScorer(postings, idf, tuple(terms), avgdl) if postings else None
    dfs = {t: p.df for t, p in postings.items()}
    return Ranked(ids, scores, idf, tuple(terms), avgdl, sentences, dfs, scorer)


def union(lists: Iterable[np.ndarray]) -> np.ndarray:
    """The sorted distinct ids of several postings lists (sort and drop repeats: several
    times faster than ``np.unique``, which hashes, on hundreds of thousands of ids)."""
    ids = np.sort(np.concatenate(list(lists)))
    if len(ids) < 2:
        return ids
    return ids[np.concatenate(([True], ids[1:] != ids[:-1]))]


def rank(backend: Backend, terms: list[str], need: int) -> Ranked:
    """BM25Okapi's top ``need`` sentences for ``terms`` on any backend: the same ids,
    scores and order on each (SQLite's is :func:`rank_postings`)."""
    return backend.rank(terms, need)


def rank_postings(
    store: Store,
    terms: list[str],
    need: int,
    *,
    pruning: Pruning = DEFAULT_PRUNING,
    cache: TermCache | None = None,
) -> Ranked:
    """Score ``terms`` (duplicates count, as in rank-bm25) and keep the best ``need``.

    Work is proportional to the postings of the query's terms, never to the corpus.
    When the postings are long, MaxScore pruning (:func:`_rank_pruned`) first tries to
    prove the top ``need`` from the rarer terms' sentences alone; otherwise every
    posting is scored into a per-thread scratch array indexed by sentence id, which only
    the postings touch and which is cleared by the same postings afterwards (when the
    postings are dense, the top is then found by one comparison against a lower bound of
    the ``need``-th best score). All give the same sentences, scores and order;
    ``pruning`` says when each shortcut is tried (:class:`Pruning`). Long postings and
    their contributions come from ``cache`` (by default the store's :class:`TermCache`).
    """
    cache = cache or term_cache(store)
    with store.read():  # N and the postings from one snapshot, even during an ingest
        totals = store.totals()
        distinct = list(dict.fromkeys(terms))
        postings = cache.postings(store, totals, distinct)
    idf = {t: scoring.idf(postings[t].df, totals) for t in distinct if t in postings}
    if not postings or totals.sentences == 0:
        return Ranked(np.empty(0, ID_DTYPE), np.empty(0), idf, sentences=totals.sentences)
    avgdl = totals.tokens / totals.sentences
    lists = tuple(p.ids for p in postings.values())
    if len(postings) > 1 and sum(map(len, lists)) >= pruning.min_postings:
        pruned = _rank_pruned(postings, idf, terms, avgdl, need, pruning, cache)
        if pruned is not None:
            ids, scores = pruned
            order = np.lexsort((ids, -scores))[:need]
            return _ranked(ids[order], scores[order], idf, terms, postings, avgdl, totals.sentences)
    contrib = {t: cache.contributions(t, postings[t], idf[t], avgdl) for t in postings}
    if len(postings) == 1:
        # One distinct term: its postings are the candidates; no scratch array needed.
        (term,) = postings
        ids, scores = postings[term].ids, np.zeros(len(lists[0]))
        for t in terms:  # 0 + c (+ c ...): the same float sums as rank-bm25
            if t == term:
                scores += contrib[term]
    else:
        size = totals.max_sentence_id + 1
        dense = _scratch(size)
        try:
            for t in terms:  # query order, duplicates included: rank-bm25's float sums
                if t in postings:  # (ufunc.at adds in place, no temporary as ``+=`` makes)
                    np.add.at(dense, postings[t].ids, contrib[t])
            found = None
            total = sum(map(len, lists))
            if total >= pruning.scan_share * size and all(w > 0 for w in idf.values()):
                # Dense postings: one comparison over the score array is cheaper than
                # gathering and partitioning every posting's sentence.
                found = _above_lower_bound(dense[:size], postings, need, pruning.scan_sample)
            if found is not None:
                ids, scores = found
            else:
                ids = np.concatenate(lists)
                scores = dense[ids]
        finally:
            _clear(dense, lists, size)
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
    return _ranked(ids[order], scores[order], idf, terms, postings, avgdl, totals.sentences)


def _above_lower_bound(
    dense: np.ndarray, postings: dict[str, Postings], need: int, sample: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The sentences scoring at least the ``need``-th best score among the sentences of
    the shortest postings: those are real sentences with their full scores, so the true
    ``need``-th best is at least that, and every sentence of the top (and every tie) is
    kept. ``None`` when the shortest postings hold fewer than ``need`` sentences."""
    shortest = sorted(postings.values(), key=lambda p: len(p.ids))
    if len(shortest[0].ids) >= need:
        # One postings list holds distinct ids; a stride of it is still real sentences
        # and bounds the top as well, for a fraction of the work.
        known = shortest[0].ids[:: max(1, len(shortest[0].ids) // sample)]
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


def contributions_at(
    candidates: np.ndarray, post: Postings, idf: float, avgdl: float
) -> np.ndarray:
    """One term's contribution to each of the ``candidates`` (sorted distinct ids), 0
    where it is absent: a binary search of the longer of the two sorted lists for the
    shorter one's ids, then rank-bm25's expression at the hits."""
    out = np.zeros(len(candidates))
    if not len(candidates):
        return out
    if len(post.ids) <= len(candidates):
        pos = np.searchsorted(candidates, post.ids)
        pos[pos == len(candidates)] = 0
        hit = candidates[pos] == post.ids
        at, into = np.flatnonzero(hit), pos[hit]
    else:
        pos = np.searchsorted(post.ids, candidates)
        pos[pos == len(post.ids)] = 0
        hit = post.ids[pos] == candidates
        at, into = pos[hit], hit
    out[into] = scoring.term_score(
        idf, post.tfs[at].astype(np.int64), post.lens[at].astype(np.int64), avgdl
    )
    return out


def scores_at(
    candidates: np.ndarray,
    postings: dict[str, Postings],
    idf: dict[str, float],
    terms: list[str],
    avgdl: float,
) -> np.ndarray:
    """Exact scores of the ``candidates`` (sorted distinct ids): each term's postings are
    searched for them, and contributions are added in query order, as rank-bm25 adds
    them."""
    scores = np.zeros(len(candidates))
    per_term = {t: contributions_at(candidates, p, idf[t], avgdl) for t, p in postings.items()}
    for t in terms:
        if t in per_term:
            scores += per_term[t]
    return scores


@dataclass(frozen=True)
class _Pruned:
    """What the rounds of :func:`_rank_pruned` share about one query."""

    postings: dict[str, Postings]
    idf: dict[str, float]
    terms: list[str]  # in query order, duplicates kept
    avgdl: float
    need: int
    pruning: Pruning
    cache: TermCache
    times: Counter[str]  # how often each term is in the query
    bound: dict[str, float]  # the most each term can add to a score (times its count)
    size: int  # above every sentence id of the postings


def _rank_pruned(
    postings: dict[str, Postings],
    idf: dict[str, float],
    terms: list[str],
    avgdl: float,
    need: int,
    pruning: Pruning,
    cache: TermCache,
) -> tuple[np.ndarray, np.ndarray] | None:
    """MaxScore (Turtle & Flood 1995), exact: ``None`` when it cannot prove the top.

    Terms are ordered by their best possible contribution, highest first. A sentence
    that holds none of the first ``i`` terms scores at most the sum of the other terms'
    bounds; once that sum is below a score some ``need`` sentences are known to reach,
    no such sentence can enter the top (nor tie with it), so the top is among the
    sentences of the first ``i`` ("essential") terms, and the rest of the long postings
    are never scored. Two rounds at most: the sentences of the shortest-list prefix give
    that threshold (:func:`_score_reaching`), then the essential terms' sentences that
    can still reach it are found in one pass over their postings (:func:`_summed`)
    and scored the same way.
    """
    if any(w <= 0 for w in idf.values()):
        return None  # bounds assume scores grow with tf and shrink with length
    # In candidates scored by binary search.
    budget = pruning.budget * sum(len(p.ids) for p in postings.values()) / len(postings)
    if min(len(p.ids) for p in postings.values()) > budget / 2:
        return None  # round 1 below cannot start: spare computing the bounds
    times = Counter(terms)
    bound = {t: cache.bound(t, p, idf[t], avgdl) * times[t] for t, p in postings.items()}
    by_bound = sorted(postings, key=lambda t: (-bound[t], t))
    rest = [sum(bound[t] for t in by_bound[i:]) for i in range(len(by_bound) + 1)]
    length = [len(postings[t].ids) for t in by_bound]
    size = max(int(p.ids[-1]) for p in postings.values()) + 1
    q = _Pruned(postings, idf, terms, avgdl, need, pruning, cache, times, bound, size)

    # Round 1: the longest prefix that fits half the budget, to learn a threshold.
    first = 0
    while first < len(by_bound) - 1 and sum(length[: first + 1]) <= budget / 2:
        first += 1
    if first == 0 or sum(length[:first]) < need:
        return None
    candidates = union([postings[t].ids for t in by_bound[:first]])
    partial = np.zeros(len(candidates))
    candidates, scores, kth = _score_reaching(q, candidates, partial, by_bound, -np.inf)
    if kth <= 0:
        return None
    # The fewest terms whose sentences must hold the top (rest[-1] is 0 < kth).
    essential = next(i for i, bound_of_rest in enumerate(rest) if bound_of_rest < kth)
    if essential > first:  # round 2: more terms are essential than round 1 scored
        summed = by_bound[:essential]
        within = pruning.search_share * sum(length)
        if sum(length[:essential]) > within:
            return None
        # Later terms whose lists are short next to those go into the same pass: their
        # exact share instead of their bound leaves far fewer sentences to score.
        for t in by_bound[essential:]:
            added = sum(len(postings[u].ids) for u in summed)
            if len(postings[t].ids) <= added and added + len(postings[t].ids) <= within:
                summed.append(t)
        left = [t for t in by_bound if t not in summed]
        reaching = _summed(q, summed, sum(bound[t] for t in left), kth)
        if reaching is None:
            return None
        candidates, scores, kth = _score_reaching(q, *reaching, left, kth)
    return candidates, scores


def _summed(
    q: _Pruned, summed: list[str], rest: float, kth: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The sentences of the ``summed`` terms that can reach ``kth`` given ``rest``, the
    bounds of the others, and their sums over those terms: each term's contributions
    are added into the scratch array (one pass over its postings, where a binary search
    per sentence costs several times more), then compared with what they need (over the
    whole array when the postings are dense: :attr:`Pruning.scan_share`). ``None`` when
    the bounds leave every sentence in (rounding aside, they cannot)."""
    floor = kth * (1 - 1e-9) - rest  # (margin: see _score_reaching)
    if floor <= 0:
        return None
    lists = [q.postings[t].ids for t in summed]
    dense = _scratch(q.size)
    try:
        for t in summed:
            post = q.postings[t]
            values = q.cache.contributions(t, post, q.idf[t], q.avgdl)
            np.add.at(dense, post.ids, values * q.times[t] if q.times[t] > 1 else values)
        if sum(map(len, lists)) >= q.pruning.scan_share * q.size:
            candidates = np.flatnonzero(dense[: q.size] >= floor).astype(ID_DTYPE)
        else:  # few postings: gathering their sentences beats comparing the whole array
            candidates = union(lists)
            candidates = candidates[dense[candidates] >= floor]
        return candidates, dense[candidates]
    finally:
        _clear(dense, lists, q.size)


def _score_reaching(
    q: _Pruned, candidates: np.ndarray, partial: np.ndarray, left: list[str], kth: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """The exact scores of those ``candidates`` (sorted ids, with ``partial`` sums over
    the terms not in ``left``) that can reach the top, and a threshold no lower than
    ``kth`` that ``need`` sentences are known to reach.

    The terms ``left`` come in turn (highest bound first); after each, a candidate whose
    sum so far plus the bounds of the terms still to come is below the threshold is
    dropped, so the long lists, which come last, are looked up for the few that remain.
    The sums so far are real sentences' lower scores, so their ``need``-th best raises
    the threshold as the terms come. Relative margins of 1e-9, far above the rounding
    of these sums (in another order than rank-bm25's), keep every sentence that can
    tie; the survivors are then scored exactly (:func:`scores_at`)."""
    for i, t in enumerate(left):
        post = q.postings[t]
        searches = min(len(candidates), len(post.ids))
        if searches * q.pruning.search_cost <= len(post.ids) + len(candidates) / 4:
            values = contributions_at(candidates, post, q.idf[t], q.avgdl)
        else:  # both long: scattering the list and gathering is cheaper than searching
            dense = _scratch(q.size)
            try:
                dense[post.ids] = q.cache.contributions(t, post, q.idf[t], q.avgdl)
                values = dense[candidates]
            finally:
                dense[post.ids] = 0.0
        partial += values * q.times[t]
        above = partial[partial > max(kth, 0.0)]  # (partition is slow on many zeros)
        if len(above) >= q.need:
            known = np.partition(above, len(above) - q.need)[len(above) - q.need]
            kth = max(kth, known * (1 - 1e-9))
        still = sum(q.bound[u] for u in left[i + 1 :])
        keep = partial + still >= kth * (1 - 1e-9)
        candidates, partial = candidates[keep], partial[keep]
    return candidates, scores_at(candidates, q.postings, q.idf, q.terms, q.avgdl), float(kth)


def _clear(dense: np.ndarray, lists: Sequence[np.ndarray], size: int) -> None:
    """Zero the scratch array where ``lists`` wrote: one sweep when they are long."""
    if sum(map(len, lists)) >= size / 8:
        dense[:size] = 0.0
    else:
        for ids in lists:
            dense[ids] = 0.0


_local = threading.local()


def _scratch(size: int) -> np.ndarray:
    """This thread's zeroed score array, at least ``size`` long (grown with headroom, so
    ingests do not reallocate it at every question)."""
    dense = getattr(_local, "dense", None)
    if dense is None or len(dense) < size:
        dense = _local.dense = np.zeros(int(size * 1.25) + 1024)
    return dense
