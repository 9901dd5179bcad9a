"""Build time: postings from counted sentences, appended to the store, and taken out again.

Owns :class:`Chunk` (sentences an ingest worker counted into postings),
:class:`PostingsBuilder` (collects an ingest's chunks and appends them per term),
:func:`remove_sentences` (drops deleted sentences from their terms' postings) and
:func:`refresh_totals` (the corpus totals BM25 needs). Query time is :mod:`retrieval.rank`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from retrieval import scoring
from retrieval.store import ID_DTYPE, LEN_DTYPE, TERMS_PER_STATEMENT, TF_DTYPE, Store

# The longest sentence a posting can record (its length is stored as LEN_DTYPE).
LEN_MAX = int(np.iinfo(LEN_DTYPE).max)


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
        self._sorted: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self.tokens = 0
        self.sentences = 0

    def add_chunk(self, first_id: int, chunk: Chunk) -> None:
        """Add the sentences of a :class:`Chunk`, numbered from ``first_id``."""
        if self._sorted is not None:
            raise ValueError("postings added after sort_pending, before the flush")
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
        self.sort_pending()
        if self._sorted is None:
            return
        term_ids, sent_ids, tfs, lens = self._sorted
        self._sorted = None
        bounds = np.flatnonzero(np.diff(term_ids)) + 1
        starts = np.concatenate(([0], bounds)).tolist()
        ends = np.concatenate((bounds, [len(term_ids)])).tolist()
        names = list(self.terms)
        firsts = [names[t] for t in term_ids[starts].tolist()]
        # Each term's postings are slices of three buffers (no copy until SQLite's).
        ids_view, tfs_view, lens_view = memoryview(sent_ids), memoryview(tfs), memoryview(lens)
        inserts = []
        # A store without terms (a first ingest) has none to append to.
        stored_any = store.has_postings()
        for at in range(0, len(firsts), TERMS_PER_STATEMENT):
            batch = slice(at, at + TERMS_PER_STATEMENT)
            stored = store.stored_postings(firsts[batch]) if stored_any else {}
            updates = []
            for term, s, e in zip(firsts[batch], starts[batch], ends[batch], strict=True):
                new = (ids_view[s:e], tfs_view[s:e], lens_view[s:e])
                row = stored.get(term)
                if row is None:
                    inserts.append((term, e - s, *new))
                else:
                    df, ids, tf, ln = row
                    updates.append((df + e - s, ids + new[0], tf + new[1], ln + new[2], term))
            store.replace_postings(updates)
        # In term order: row ids then do not depend on which worker met a term first.
        inserts.sort(key=lambda row: row[0])
        store.insert_postings(inserts)

    def sort_pending(self) -> None:
        """Order the pending postings for the next :meth:`flush` now. Most of it is
        NumPy sorting and copying, which releases the GIL: a thread can do it while
        SQLite works for the caller. No postings can be added until the flush."""
        if self._sorted is None and self._keys:
            self._sorted = self._take_by_term()

    def _take_by_term(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pending postings, emptied, ordered by term then sentence id: term ids,
        sentence ids, term counts, sentence lengths."""
        keys = np.concatenate(self._keys)
        self._keys = []  # the chunks' copies go before the flush's arrays are made
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
        self._repeated_keys, self._repeated_tfs = [], []
        self._sentence_ids, self._lengths = [], []
        self.pending = 0
        keys >>= 32  # in place: the term ids, without another array as large
        return keys, sentence_ids, tfs, lens

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


def remove_sentences(store: Store, ids: np.ndarray, terms: Iterable[str]) -> None:
    """Drop the sentence ``ids`` (sorted) from the postings of ``terms``."""
    ids = np.asarray(ids, dtype=ID_DTYPE)
    terms = list(set(terms))
    for at in range(0, len(terms), TERMS_PER_STATEMENT):
        stored = store.stored_postings(terms[at : at + TERMS_PER_STATEMENT])
        updates, emptied = [], []
        for term, (_, ids_blob, tfs_blob, lens_blob) in stored.items():
            have = np.frombuffer(ids_blob, ID_DTYPE)
            keep = ~np.isin(have, ids, assume_unique=True)
            if keep.all():
                continue
            if not keep.any():
                emptied.append(term)
                continue
            tfs = np.frombuffer(tfs_blob, TF_DTYPE)
            lens = np.frombuffer(lens_blob, LEN_DTYPE)
            updates.append(
                (
                    int(keep.sum()),
                    have[keep].tobytes(),
                    tfs[keep].tobytes(),
                    lens[keep].tobytes(),
                    term,
                )
            )
        store.delete_postings(emptied)
        store.replace_postings(updates)


def refresh_totals(store: Store, *, sentences: int, tokens: int, max_sentence_id: int) -> None:
    """Recompute vocabulary size and the idf sum (it depends on N, so every term counts)."""
    store.set_totals(
        scoring.totals_of(
            store.document_frequencies(),
            sentences=sentences,
            tokens=tokens,
            max_sentence_id=max_sentence_id,
        )
    )
