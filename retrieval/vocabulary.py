"""Term ids for an ingest worker: sentences → terms (the tokenizer, cached) → a Chunk.

Owns :class:`Vocabulary`, which applies :mod:`retrieval.text` a batch at a time and
numbers the terms it meets, so that a worker sends the writer counted postings
(:class:`retrieval.postings.Chunk`) and only the terms the writer has not seen yet.
"""

from __future__ import annotations

import uuid
from itertools import compress, repeat

import numpy as np

from retrieval import text as textmod
from retrieval.postings import LEN_MAX, Chunk
from retrieval.store import LEN_DTYPE, TF_DTYPE

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
