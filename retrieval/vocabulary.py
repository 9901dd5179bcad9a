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
_UNKNOWN = -2


class Vocabulary:
    """Term ids for one ingest worker, kept from file to file: each distinct match of
    the tokenizer is normalised, stemmed and numbered once (:class:`_MatchIds`), and
    only new terms travel to the writer.

    Texts are tokenized a batch at a time (:func:`retrieval.text.matches`), which gives
    the same terms as :func:`retrieval.text.tokenize` text by text."""

    # Distinct matches remembered (~70 bytes each); beyond, the cache starts over.
    WORDS_MAX = 300_000

    def __init__(self) -> None:
        self.owner = uuid.uuid4().hex
        self.terms: dict[str, int] = {}
        self._names: list[str] = []  # by id
        self._sent = 0  # terms already sent in a chunk
        self._known = _MatchIds()

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
        grouped = found.grouped()
        if grouped is None:
            return None
        keys, first, which = grouped
        if len(self._known) > self.WORDS_MAX:
            self._known = _MatchIds()
        starts = found.starts[first]
        lengths = found.ends[first] - starts
        ids = self._known.find(keys, found.codes, starts, lengths)
        if ids is None:
            return None
        new = np.flatnonzero(ids == _UNKNOWN)
        if len(new):
            terms = textmod.terms_of(found.strings(first[new]))
            ids[new] = [_STOPWORD if term is None else self._id(term) for term in terms]
            self._known.add(keys[new], ids[new], found.codes, starts[new], lengths[new])
        return ids[which]

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


class _MatchIds:
    """Match → id, for matches seen in earlier batches: sorted hash keys, and each
    match's characters to check a found key against (so a hash collision is caught,
    never taken for the same word). A batch looks up its distinct matches at once, with
    no string made for a match already known."""

    def __init__(self) -> None:
        self.keys = np.empty(0, np.uint64)  # ascending
        self.ids = np.empty(0, np.int64)
        self.starts = np.empty(0, np.int64)  # of each match in ``chars``
        self.lengths = np.empty(0, np.int64)
        self.chars = np.empty(1024, np.uint32)
        self.used = 0  # of ``chars``

    def __len__(self) -> int:
        return len(self.keys)

    def find(
        self, keys: np.ndarray, codes: np.ndarray, starts: np.ndarray, lengths: np.ndarray
    ) -> np.ndarray | None:
        """Ids of the matches with these distinct ``keys`` (_UNKNOWN where none is known),
        the matches being ``codes[start : start + length]``; ``None`` if a key is known
        for other characters."""
        at = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        hit = self.keys[at] == keys if len(self.keys) else np.zeros(len(keys), bool)
        known = at[hit]
        if not np.array_equal(self.lengths[known], lengths[hit]) or not textmod.same_chars(
            codes, starts[hit], self.chars[: self.used], self.starts[known], lengths[hit]
        ):
            return None
        ids = np.full(len(keys), _UNKNOWN, np.int64)
        ids[hit] = self.ids[known]
        return ids

    def add(
        self,
        keys: np.ndarray,
        ids: np.ndarray,
        codes: np.ndarray,
        starts: np.ndarray,
        lengths: np.ndarray,
    ) -> None:
        """Remember matches not yet known (distinct ``keys``) as ``codes[start : start +
        length]``."""
        chars = codes[textmod.char_positions(starts, lengths)]
        if self.used + len(chars) > len(self.chars):
            grown = np.empty(max(2 * len(self.chars), self.used + len(chars)), np.uint32)
            grown[: self.used] = self.chars[: self.used]
            self.chars = grown
        self.chars[self.used : self.used + len(chars)] = chars
        at_chars = self.used + np.cumsum(lengths) - lengths
        self.used += len(chars)
        order = np.argsort(keys)
        where = np.searchsorted(self.keys, keys[order])
        self.keys = np.insert(self.keys, where, keys[order])
        self.ids = np.insert(self.ids, where, ids[order])
        self.starts = np.insert(self.starts, where, at_chars[order])
        self.lengths = np.insert(self.lengths, where, lengths[order])
