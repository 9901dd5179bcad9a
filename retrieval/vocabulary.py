"""Term ids for an ingest worker: sentences → terms (the tokenizer, cached) → a Chunk.

Owns :class:`Vocabulary`, which applies :mod:`retrieval.text` a batch at a time and
numbers the terms it meets, so that a worker sends the writer counted postings
(:class:`retrieval.postings.Chunk`) and only the terms the writer has not seen yet.
"""

from __future__ import annotations

import uuid

import numpy as np

from retrieval import text as textmod
from retrieval.postings import LEN_MAX, Chunk
from retrieval.store import LEN_DTYPE, TF_DTYPE

# Vocabulary ids that are not terms.
_STOPWORD = -1


class Vocabulary:
    """Term ids for one ingest worker, kept from file to file: each distinct match of
    the tokenizer is normalised, stemmed and numbered once (:class:`_MatchTable`), and
    only new terms travel to the writer.

    Texts are tokenized a batch at a time (:func:`retrieval.text.matches`), which gives
    the same terms as :func:`retrieval.text.tokenize` text by text."""

    # Distinct matches remembered per code width (~100 bytes each at most, the hash
    # table's slots and spare room included); beyond, the cache starts over.
    WORDS_MAX = 300_000

    def __init__(self) -> None:
        self.owner = uuid.uuid4().hex
        self.terms: dict[str, int] = {}
        self._names: list[str] = []  # by id
        self._sent = 0  # terms already sent in a chunk
        self._known: dict[int, _MatchTable] = {}  # by code width

    def count(self, texts: list[str]) -> Chunk:
        """Count the terms of consecutive sentences into a :class:`Chunk`."""
        found = textmod.matches(texts)
        ids = None if found is None else self._match_ids(found)
        if ids is None:
            return self._counted_one_by_one(texts)
        return self._chunk(found.text, ids, len(texts))

    def _match_ids(self, found: textmod.Matches) -> np.ndarray | None:
        """The term id of each match (negative: a stopword); ``None`` on a hash
        collision."""
        # Keys are of a match's bytes, so each code width (1, 2 or 4 bytes a character:
        # text.matches) has a table.
        width = found.codes.itemsize
        table = self._known.get(width)
        if table is None or len(table) > self.WORDS_MAX:
            table = self._known[width] = _MatchTable(found.codes.dtype)
        first, second = found.keys()
        lengths = found.ends - found.starts
        entries = table.find(first, second, found.codes, found.starts, lengths)
        if entries is None:
            return None
        new = np.flatnonzero(entries < 0)
        if len(new):
            added = self._learn(
                table,
                found.codes,
                found.folded,
                found.starts[new],
                lengths[new],
                first[new],
                second[new],
            )
            if added is None:
                return None
            entries[new] = added
        return table.ids[entries]

    def _learn(
        self,
        table: _MatchTable,
        codes: np.ndarray,
        folded: str,
        starts: np.ndarray,
        lengths: np.ndarray,
        first: np.ndarray,
        second: np.ndarray,
    ) -> np.ndarray | None:
        """Number the matches ``codes[start : start + length]`` (keys ``first``,
        ``second``), which ``table`` does not hold, and add each distinct one to it:
        their entries. ``None`` if two of them share a hash but not their characters."""
        _, one, which = textmod.groups(_mixed(first, second))
        same = one[which]
        others = np.flatnonzero(same != np.arange(len(same)))
        if not np.array_equal(lengths[same[others]], lengths[others]) or not textmod.same_chars(
            codes, starts[others], codes, starts[same[others]], lengths[others]
        ):
            return None
        starts, lengths = starts[one], lengths[one]
        ends = (starts + lengths).tolist()
        terms = textmod.terms_of([folded[s:e] for s, e in zip(starts.tolist(), ends, strict=True)])
        ids = [_STOPWORD if term is None else self._id(term) for term in terms]
        return table.add(first[one], second[one], ids, codes, starts, lengths)[which]

    def _id(self, term: str) -> int:
        terms = self.terms
        found = terms.get(term)
        if found is None:
            found = terms[term] = len(self._names)
            self._names.append(term)
        return found

    def _counted_one_by_one(self, texts: list[str]) -> Chunk:
        per_text = [list(map(self._id, textmod.tokenize(text))) for text in texts]
        sentence = np.repeat(np.arange(len(texts)), list(map(len, per_text)))
        ids = np.fromiter((i for ids in per_text for i in ids), np.int64, len(sentence))
        return self._chunk(sentence, ids, len(texts))

    def _chunk(self, sentence: np.ndarray, ids: np.ndarray, n_texts: int) -> Chunk:
        """Postings from each token's text index and term id (a stopword's is
        negative): a (sentence, term) key per token, then one sort."""
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


class _MatchTable:
    """Match → entry (its id, keys and characters) for the matches of earlier batches
    of one code width: an open-addressing hash table (linear probing) on the two keys of
    :func:`retrieval.text.span_keys`, probed for a whole batch at once in NumPy.

    Keys of at most 16 bytes are the match itself; a longer match found is compared
    with the characters kept for its entry, so a hash collision is caught, never taken
    for the same word."""

    LOAD_MAX = 0.5  # entries per slot: a probe of a known match ends in ~1.5 slots

    def __init__(self, dtype: np.dtype) -> None:
        self.size = 0  # entries, numbered in order of arrival
        self.first = np.empty(1024, np.uint64)  # by entry
        self.second = np.empty(1024, np.uint64)
        self.ids = np.empty(1024, np.int32)
        self.starts = np.empty(1024, np.int64)  # of each entry's match in ``chars``
        self.lengths = np.empty(1024, np.int32)
        self.chars = np.empty(4096, dtype)
        self.used = 0  # of ``chars``
        self.slots = np.full(2048, -1, np.int32)  # entry or -1; a power of 2 long

    def __len__(self) -> int:
        return self.size

    def find(
        self,
        first: np.ndarray,
        second: np.ndarray,
        codes: np.ndarray,
        starts: np.ndarray,
        lengths: np.ndarray,
    ) -> np.ndarray | None:
        """The entry of each match ``codes[start : start + length]`` with these keys
        (-1 where none); ``None`` if an entry has a match's keys but other characters."""
        at = self._home(first, second)
        entries = self.slots[at].astype(np.int64)  # from each home slot: most end there
        pending = self._missed(entries, first, second)
        at, mask = at[pending], len(self.slots) - 1
        while len(pending):
            at = (at + 1) & mask
            entry = self.slots[at]
            entries[pending] = entry
            on = self._missed(entry, first[pending], second[pending])
            pending, at = pending[on], at[on]
        hit = np.flatnonzero(entries >= 0)
        held = entries[hit]
        if not np.array_equal(self.lengths[held], lengths[hit]):
            return None
        beyond = lengths[hit] * codes.itemsize > 16  # longer than its keys
        hit, held = hit[beyond], held[beyond]
        if len(hit) and not textmod.same_chars(
            codes, starts[hit], self.chars[: self.used], self.starts[held], lengths[hit]
        ):
            return None
        return entries

    def _missed(self, entry: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Where a slot's ``entry`` has other keys than ``first``, ``second``: the probe
        goes on at the next slot (an empty slot, -1, ends it: the keys are not held)."""
        other = self.first[entry] != first
        other |= self.second[entry] != second
        other &= entry >= 0
        return np.flatnonzero(other)

    def add(
        self,
        first: np.ndarray,
        second: np.ndarray,
        ids: list[int],
        codes: np.ndarray,
        starts: np.ndarray,
        lengths: np.ndarray,
    ) -> np.ndarray:
        """Hold distinct matches whose keys no entry has, ``codes[start : start +
        length]``, with their ids: their entries."""
        n = len(first)
        chars = codes[textmod.char_positions(starts, lengths)]
        self._reserve(n, len(chars))
        entries = np.arange(self.size, self.size + n)
        self.first[entries], self.second[entries], self.ids[entries] = first, second, ids
        self.starts[entries] = self.used + np.cumsum(lengths) - lengths
        self.lengths[entries] = lengths
        self.chars[self.used : self.used + len(chars)] = chars
        self.size += n
        self.used += len(chars)
        if self.size > self.LOAD_MAX * len(self.slots):
            size = len(self.slots)
            while self.size > self.LOAD_MAX * size:
                size *= 2
            self.slots = np.full(size, -1, np.int32)
            self._place(np.arange(self.size))
        else:
            self._place(entries)
        return entries

    def _reserve(self, entries: int, chars: int) -> None:
        """Room for this many more entries and characters (capacities double)."""
        if self.size + entries > len(self.ids):
            room = max(2 * len(self.ids), self.size + entries)
            for name in ("first", "second", "ids", "starts", "lengths"):
                setattr(self, name, _grown(getattr(self, name), self.size, room))
        if self.used + chars > len(self.chars):
            room = max(2 * len(self.chars), self.used + chars)
            self.chars = _grown(self.chars, self.used, room)

    def _place(self, entries: np.ndarray) -> None:
        """Put ``entries`` in the first empty slot from their home slot on."""
        at = self._home(self.first[entries], self.second[entries])
        while len(entries):
            free = self.slots[at] < 0
            self.slots[at[free]] = entries[free]  # two may want one slot: the last wins
            placed = free
            placed[free] = self.slots[at[free]] == entries[free]
            entries, at = entries[~placed], (at[~placed] + 1) & (len(self.slots) - 1)

    def _home(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Each key pair's first slot: the top bits of a multiplicative hash of both."""
        bits = len(self.slots).bit_length() - 1
        return (_mixed(first, second) >> np.uint64(64 - bits)).astype(np.intp)


def _mixed(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """One 64-bit hash of two keys, whose top bits depend on every bit of both."""
    return (first ^ (second * _MIX_SECOND)) * _MIX


_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd constants (Fibonacci hashing)
_MIX_SECOND = np.uint64(0xC2B2AE3D27D4EB4F)


def _grown(array: np.ndarray, used: int, room: int) -> np.ndarray:
    """A copy of ``array[:used]`` with room for ``room`` items."""
    grown = np.empty(room, array.dtype)
    grown[:used] = array[:used]
    return grown
