"""Semantic re-rankers: sentence vectors that the answer function fuses with BM25.

(Interim version: the lead's; the full seam - selection, MiniLM, stored vectors - lands
from the rerank branch.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from retrieval.models import Sentence


@dataclass(frozen=True)
class Similarities:
    """How close each candidate sentence is to the question, alone and in its window
    (the sentence read with its neighbours)."""

    sentence: np.ndarray  # cos(question, sentence)
    window: np.ndarray  # cos(question, window)
    # Soft term coverage: for each of the question's keyword tokens its best cosine with
    # a token of the sentence (or window), averaged; "nations" finds "countries".
    terms: np.ndarray
    window_terms: np.ndarray


class Reranker(Protocol):
    name: str

    def similarities(
        self,
        question: str,
        keywords: Sequence[str],
        sentences: Sequence[Sentence],
        windows: Sequence[Sequence[int]],
    ) -> Similarities:
        """``windows[i]`` lists the indices (into ``sentences``) of sentence i's window."""
        ...


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


class WordLlamaReranker:
    """WordLlama's static token embeddings. A text's vector is the mean of its tokens'
    rows, so a window's vector points the way of its sentences' summed token rows: each
    sentence is tokenized once, and windows cost one addition."""

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
        self.units = _unit(self.table)

    def _tokens(self, texts: Sequence[str]) -> list[np.ndarray]:
        encoded = self.model.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        last = len(self.table) - 1
        return [
            np.clip(np.asarray(e.ids, np.int64)[np.asarray(e.attention_mask, bool)], 0, last)
            for e in encoded
        ]

    def similarities(
        self,
        question: str,
        keywords: Sequence[str],
        sentences: Sequence[Sentence],
        windows: Sequence[Sequence[int]],
    ) -> Similarities:
        q_ids, k_ids, *ids = self._tokens(
            [question, " ".join(keywords), *(s.text for s in sentences)]
        )
        counts = np.array([len(i) for i in ids], np.int64)
        flat = np.concatenate(ids) if ids else np.empty(0, np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        some = counts > 0  # reduceat would copy a row for an empty segment
        n, dim = len(sentences), self.table.shape[1]
        sums = np.zeros((n, dim))
        if len(flat):
            sums[some] = np.add.reduceat(self.table[flat].astype(np.float64), starts[some])
        q = _unit(self.table[q_ids].astype(np.float64).sum(axis=0))
        window_sums = np.stack([sums[list(w)].sum(axis=0) for w in windows]) if n else sums
        best = np.zeros((n, len(k_ids)))  # each keyword token's best cosine in each sentence
        if len(flat) and len(k_ids):
            cos = self.units[flat] @ self.units[k_ids].T
            best[some] = np.maximum.reduceat(cos, starts[some], axis=0)
        window_best = np.stack([best[list(w)].max(axis=0) for w in windows]) if n else best
        mean = (lambda m: m.mean(axis=1)) if len(k_ids) else (lambda m: np.zeros(len(m)))
        return Similarities(_unit(sums) @ q, _unit(window_sums) @ q, mean(best), mean(window_best))


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
