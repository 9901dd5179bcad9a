"""Long postings lists kept between questions, with each term's BM25 contributions and
their upper bound (what MaxScore pruning needs), computed once while kept."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from retrieval import scoring
from retrieval.scoring import Totals
from retrieval.store import Postings, Store

# Below this many postings the table's set-up costs more than computing each posting
# (docs/decisions/017). Longer lists are kept in the TermCache, so their table is made
# once.
TABLE_MIN_POSTINGS = 10_000


def term_scores(post: Postings, idf: float, avgdl: float) -> np.ndarray:
    """One term's contribution to each sentence in its postings (rank-bm25's formula).

    A posting's score depends only on its (tf, length) pair, and a long list has few
    distinct pairs: the scores come from a table over every pair up to the largest
    (the same expression on the same values, so the same floats) with one gather. When
    that table would outgrow the list (a sentence of thousands of words, a word repeated
    hundreds of times), each posting is computed on its own: the same floats either way."""
    if len(post.lens) == 0:
        return np.empty(0)
    width = int(post.lens.max()) + 1
    rows = int(post.tfs.max()) + 1
    if len(post.lens) < TABLE_MIN_POSTINGS or rows * width > len(post.lens):
        return scoring.term_score(idf, post.tfs.astype(np.int64), post.lens.astype(np.int64), avgdl)
    tf = np.repeat(np.arange(rows, dtype=np.int64), width)
    length = np.tile(np.arange(width, dtype=np.int64), rows)
    at = post.tfs.astype(np.intp) * width
    at += post.lens
    return scoring.term_score(idf, tf, length, avgdl).take(at)


@dataclass
class _Cached:
    totals: Totals  # the store's totals when the postings were read
    postings: Postings
    contributions: np.ndarray | None = None
    bound: float | None = None

    @property
    def size(self) -> int:
        extra = 0 if self.contributions is None else self.contributions.nbytes
        p = self.postings
        return p.ids.nbytes + p.tfs.nbytes + p.lens.nbytes + extra


class TermCache:
    """Long postings lists, decoded, with their BM25 contributions and bound, kept between
    questions: reading and scoring a query's frequent terms is most of its work, and
    questions share their frequent terms.

    An entry is used only while the store's totals are those it was read with. Every
    write that changes postings changes the totals (sentences are added with ids never
    used before, which raises ``max_sentence_id``, or removed, which lowers ``sentences``),
    so an entry never outlives its postings, even when another process writes. Lists of
    fewer than ``min_postings`` are cheap to read and are not kept; the least recently
    used entries go once the entries exceed ``max_bytes``."""

    def __init__(self, max_bytes: int = 128 << 20, min_postings: int = 10_000):
        self.max_bytes = max_bytes
        self.min_postings = min_postings
        self._entries: OrderedDict[str, _Cached] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def postings(self, store: Store, totals: Totals, terms: list[str]) -> dict[str, Postings]:
        """The postings of ``terms`` that the vocabulary has, kept or read from
        ``store`` (inside the caller's read snapshot, whose totals are ``totals``)."""
        found: dict[str, Postings] = {}
        with self._lock:
            for t in terms:
                entry = self._entries.get(t)
                if entry is not None and entry.totals == totals:
                    self._entries.move_to_end(t)
                    found[t] = entry.postings
        missing = [t for t in terms if t not in found]
        read = store.postings(missing) if missing else {}
        with self._lock:
            for t, post in read.items():
                if len(post.ids) >= self.min_postings:
                    self._put(t, _Cached(totals, post))
        return {t: found.get(t) or read[t] for t in terms if t in found or t in read}

    def contributions(self, term: str, post: Postings, idf: float, avgdl: float) -> np.ndarray:
        """:func:`term_scores` of ``post``, computed once while it is kept (read-only)."""
        entry = self._entries.get(term)
        if entry is None or entry.postings is not post:
            return term_scores(post, idf, avgdl)
        if entry.contributions is None:
            values = term_scores(post, idf, avgdl)
            values.flags.writeable = False
            with self._lock:
                entry.contributions = values
                if self._entries.get(term) is entry:  # not evicted meanwhile: count it
                    self._bytes += values.nbytes
                    self._trim()
        return entry.contributions

    def bound(self, term: str, post: Postings, idf: float, avgdl: float) -> float:
        """:func:`upper_bound` of ``post``, computed once while it is kept."""
        entry = self._entries.get(term)
        if entry is None or entry.postings is not post:
            return upper_bound(post, idf, avgdl)
        if entry.bound is None:
            entry.bound = upper_bound(post, idf, avgdl)
        return entry.bound

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _put(self, term: str, entry: _Cached) -> None:
        old = self._entries.pop(term, None)
        if old is not None:
            self._bytes -= old.size
        self._entries[term] = entry
        self._bytes += entry.size
        self._trim()

    def _trim(self) -> None:
        while self._bytes > self.max_bytes and self._entries:
            _, old = self._entries.popitem(last=False)
            self._bytes -= old.size


# One cache per open store (a different file, or the same file opened twice, has its own).
_caches: weakref.WeakKeyDictionary[Store, TermCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def term_cache(store: Store) -> TermCache:
    """The :class:`TermCache` of ``store``, made at its first query."""
    with _caches_lock:
        cache = _caches.get(store)
        if cache is None:
            cache = _caches[store] = TermCache()
        return cache


def upper_bound(post: Postings, idf: float, avgdl: float) -> float:
    """The highest score any sentence can get from this term (for idf > 0): BM25 falls as
    a sentence gets longer, so the best tf = 1 posting is the shortest sentence; the few
    postings with tf > 1 are scored one by one."""
    best = float(
        scoring.term_score(idf, np.ones(1, np.int64), post.lens.min(keepdims=True), avgdl)[0]
    )
    repeated = np.flatnonzero(post.tfs != 1)
    if len(repeated):
        best = max(best, float(scoring.term_score(
            idf, post.tfs[repeated].astype(np.int64), post.lens[repeated].astype(np.int64),
            avgdl,
        ).max()))  # fmt: skip
    return best
