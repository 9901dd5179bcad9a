"""Semantic re-rankers: sentence vectors that the answer function fuses with BM25.

(Interim version: the lead's; the full seam - selection, MiniLM, stored vectors - lands
from the rerank branch.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from retrieval.models import Sentence


class Reranker(Protocol):
    name: str

    def embed_question(self, question: str) -> np.ndarray:
        """The question as a unit vector."""
        ...

    def vectors(
        self, sentences: Sequence[Sentence], windows: Sequence[Sequence[int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Unit vectors of the sentences, and of each window: the sentences at those
        indices read as one text (a sentence with its neighbours)."""
        ...


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


class WordLlamaReranker:
    """WordLlama's static token embeddings, mean-pooled. A text's vector is the mean of
    its tokens' rows, so a window's vector points the way of its sentences' summed token
    rows: each sentence is tokenized once, and windows cost one addition."""

    name = "wordllama"

    def __init__(self) -> None:
        import wordllama
        from wordllama import WordLlama

        # cache_dir at the package folder: the weights ship in the wheel, and the plain
        # load() would try the network first.
        self.model = WordLlama.load(
            config="l2_supercat", dim=256, cache_dir=Path(wordllama.__file__).parent
        )
        self.table = np.asarray(self.model.embedding, dtype=np.float32)

    def _sums(self, texts: list[str]) -> np.ndarray:
        """Each text's token rows summed (the mean's direction: all that cosines need)."""
        encoded = self.model.tokenizer.encode_batch(texts, add_special_tokens=False)
        ids = [np.asarray(e.ids, np.int64)[np.asarray(e.attention_mask, bool)] for e in encoded]
        counts = np.array([len(i) for i in ids], np.int64)
        flat = np.clip(
            np.concatenate(ids) if ids else np.empty(0, np.int64), 0, len(self.table) - 1
        )
        sums = np.zeros((len(texts), self.table.shape[1]), np.float64)
        if len(flat):
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            some = counts > 0  # reduceat would copy a row for an empty segment
            sums[some] = np.add.reduceat(self.table[flat].astype(np.float64), starts[some])
        return sums

    def embed_question(self, question: str) -> np.ndarray:
        return _unit(self._sums([question])[0])

    def vectors(
        self, sentences: Sequence[Sentence], windows: Sequence[Sequence[int]]
    ) -> tuple[np.ndarray, np.ndarray]:
        sums = self._sums([s.text for s in sentences])
        window_sums = np.stack([sums[list(w)].sum(axis=0) for w in windows])
        return _unit(sums), _unit(window_sums)


_lock = threading.Lock()
_loaded: dict[str, Reranker] = {}


def load(name: str | None = None) -> Reranker | None:
    name = name or os.environ.get("CORPUSBOT_RERANKER") or "wordllama"
    if name == "none":
        return None
    with _lock:
        if name not in _loaded:
            _loaded[name] = WordLlamaReranker()
        return _loaded[name]
