"""Question → :class:`Answer`: the function every front end calls (through Corpus).

Steps: check the question, turn it into terms (dropping the words that only frame it),
rank sentences with exact BM25, then re-rank the best of them with their neighbours by
one fused score: the sentence's BM25 (as a share of the best), the share of the
question's words found in the sentence and its neighbours, whether it holds the asked
kind of thing (a number, a date, a reason) and, with a semantic re-ranker, the cosine
similarity of the question with the sentence and with the sentence read after the one
before it, and how well the question's words find words of like meaning there.
"Not found" when no candidate is close enough to the question; otherwise the top ``k``
whole sentences, each once, with their articles, their own BM25 scores and the fused
score. README "Answer quality" has the figures and how each constant was chosen.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, fields

import numpy as np

from retrieval.backend import Backend
from retrieval.models import Answer, Hit, Sentence, Status
from retrieval.rank import Ranked, rank
from retrieval.rerank import Reranker, Similarities, gather
from retrieval.text import STOPWORDS, clean, tokenize, words

MAX_QUESTION_CHARS = 300
DEFAULT_K = 3
MAX_K = 25

# The BM25 top sentences that are re-ranked, with their neighbours. With a semantic
# re-ranker 30 give the same answers as 100 on SQuAD public, dev and off-topic (20 lose
# a SQuAD question) for a third of the re-ranking work. With lexical evidence alone a
# sentence below the BM25 top 10 does not come back up: 10 give the answers of 30 (one
# SQuAD public question better, none worse) for a third of the work (README "Answer
# quality").
CANDIDATES = 30
LEXICAL_CANDIDATES = 10


@dataclass(frozen=True)
class Weights:
    """The weight of each :class:`Features` value in the fused score (the BM25 share's is
    1). Fitted on SQuAD public by ``bench/fit_fusion.py``, one article held out at a time
    (docs/decisions/006-fused-score-weights.md)."""

    coverage: float
    kind: float
    similarity: float = 0.0
    window_similarity: float = 0.0
    soft_coverage: float = 0.0
    window_soft_coverage: float = 0.0


@dataclass(frozen=True)
class Fusion:
    """How one re-ranker's evidence becomes an answer: the fused score's ``weights``;
    ``min_evidence``, below which no candidate is close enough to answer (None: never
    abstain, as lexical evidence alone did not separate answerable questions from
    off-topic ones); and ``max_gap``, the relevance cut: a quote is shown only while its
    fused score is within ``max_gap`` of the first quote's (docs/answer-quality.md)."""

    weights: Weights
    min_evidence: float | None
    max_gap: float


# One set a re-ranker: their cosines and fused scores are on different scales.
# min_evidence: the largest multiple of 0.05 that refuses under 1% of the answerable
# questions of SQuAD public and of COVID-QA public, each. max_gap: the smallest multiple
# of 0.05 that costs at most 2 points of hit over the shown quotes on each of them
# (docs/decisions/018-relevance-cut.md).
FUSION = {
    "none": Fusion(Weights(coverage=1.75, kind=0.5), min_evidence=None, max_gap=0.65),
    "wordllama": Fusion(
        Weights(
            coverage=2.75,
            kind=1.5,
            similarity=1.0,
            window_similarity=2.25,
            soft_coverage=1.75,
            window_soft_coverage=2.5,
        ),
        min_evidence=0.45,
        max_gap=1.3,
    ),
    "minilm": Fusion(
        Weights(
            coverage=3.5,
            kind=1.75,
            similarity=2.75,
            window_similarity=3.25,
            soft_coverage=2.0,
            window_soft_coverage=2.75,
        ),
        min_evidence=0.55,
        max_gap=1.5,
    ),
}

# Abstention's evidence is a candidate's cosine similarity plus this share of its window
# coverage (docs/decisions/008-abstention-evidence.md).
EVIDENCE_COVERAGE = 0.5


def fusion_for(reranker: Reranker | None) -> Fusion:
    """The :class:`Fusion` of ``reranker`` (None: ``none``); an unknown re-ranker is an
    error, not another re-ranker's constants."""
    name = "none" if reranker is None else reranker.name
    try:
        return FUSION[name]
    except KeyError:
        raise ValueError(f"no fusion constants for re-ranker {name!r}") from None


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that frame a question rather than say what it is about: dropped from the query
# when they follow a wh-word ("what date", "what is the purpose of", "how many").
_WH = frozenset({"what", "which", "whose", "how"})
_FILLER = frozenset(
    {
        "is",
        "was",
        "are",
        "were",
        "the",
        "a",
        "an",
        "will",
        "would",
        "exact",
        "exactly",
        "approximate",
        "approximately",
        "roughly",
        "about",
        "s",
    }
)
_FRAME = frozenset(
    {
        "date",
        "year",
        "time",
        "day",
        "month",
        "purpose",
        "aim",
        "goal",
        "reason",
        "name",
        "names",
        "number",
        "amount",
        "kind",
        "type",
        "sort",
        "many",
        "much",
    }
)
_HEDGES = frozenset({"roughly", "approximately", "approx", "exactly", "precisely", "according"})
_MONTHS = _wordset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday "
    "friday saturday sunday today yesterday tomorrow"
)
_NUMBER_WORDS = _wordset(
    "one two three four five six seven eight nine ten eleven twelve twenty thirty forty "
    "fifty hundred hundreds thousand thousands million millions billion billions dozen "
    "dozens percent"
)
_DATE_WORDS = _MONTHS
_REASON_WORDS = frozenset(
    [
        "aim",
        "aims",
        "aimed",
        "goal",
        "goals",
        "purpose",
        "because",
        "reason",
        "reasons",
        "intended",
        "designed",
        "due",
        "thanks",
    ]
)
_REASON_PHRASES = (" in order to ", " so as to ", " so that ", " as a result ")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")


@functools.lru_cache(maxsize=64)  # asked twice a question: for its terms, for its kind
def _question_words(question: str) -> tuple[tuple[str, ...], str | None]:
    """The question's words without its frame, and the answer type it asks for
    (``"number"``, ``"date"``, ``"reason"`` or ``None``)."""
    ws = words(question)
    keep = [True] * len(ws)
    kind = None
    for i, w in enumerate(ws):
        if w in _HEDGES:
            keep[i] = False
        if w == "when":
            kind = "date"
        elif w == "why":
            kind = "reason"
        if w not in _WH:
            continue
        j = i + 1
        while j < len(ws) and ws[j] in _FILLER:
            j += 1
        if j < len(ws) and ws[j] in _FRAME:
            keep[j] = False
            frame = ws[j]
            if frame in ("many", "much", "number", "amount") and w in ("how", "what", "which"):
                kind = kind or "number"
            elif frame in ("date", "year", "day", "month", "time"):
                kind = kind or "date"
            elif frame in ("purpose", "aim", "goal", "reason"):
                kind = kind or "reason"
    return tuple(w for w, k in zip(ws, keep, strict=True) if k), kind


def query_terms(question: str) -> list[str]:
    """The BM25 terms of a question: the same tokenizer as sentences, after dropping the
    words that only frame it ("what date", "what is the purpose of", "how many",
    "roughly", "according to"). Falls back to all its terms if nothing else is left."""
    kept, _ = _question_words(question)
    return tokenize(" ".join(kept)) or tokenize(question)


def answer_type(question: str) -> str | None:
    return _question_words(question)[1]


def has_type(text: str, kind: str | None, given: frozenset[str] = frozenset()) -> bool:
    """Whether a sentence holds a thing of the asked kind (a number, a date) other than
    the ``given`` words (the question's own: its "2017" is not the answer to "how many")."""
    if kind is None:
        return False
    ws = words(text)
    if kind == "number":
        return any((w[0].isdigit() or w in _NUMBER_WORDS) and w not in given for w in ws)
    if kind == "reason":
        joined = f" {' '.join(ws)} "
        return any(w in _REASON_WORDS for w in ws) or any(p in joined for p in _REASON_PHRASES)
    return any(
        w not in given
        and ((w in _DATE_WORDS and (w != "may" or _next_to_number(ws, i))) or _YEAR.match(w))
        for i, w in enumerate(ws)
    )


def _next_to_number(ws: list[str], i: int) -> bool:
    """Whether the word at ``i`` stands by a number ("May 5", "5 May"): "may" alone is
    the modal verb, not the month."""
    return any(0 <= j < len(ws) and ws[j][0].isdigit() for j in (i - 1, i + 1))


def term_weights(ranked: Ranked, terms: tuple[str, ...]) -> dict[str, float]:
    """Each distinct query term's weight in the coverage shares: an idf that is positive
    for every term (Lucene's ``log(1 + (N - df + 0.5) / (df + 0.5))``), so a term in
    half of a tiny corpus still counts, where BM25Okapi gives it nothing. A term the
    corpus never uses weighs as much as the rarest possible term."""
    n = ranked.sentences
    df = ranked.frequencies()
    return {t: math.log(1 + (n - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5)) for t in terms}


@dataclass(frozen=True)
class Features:
    """What the fused score weighs, for one candidate sentence."""

    share: float  # its BM25 score over the best candidate's
    coverage: float  # share of the question's term weight in it and its neighbours
    kind: float  # 1 when it holds the asked kind of thing (number, date, reason)
    similarity: float = 0.0  # cos(question, sentence); 0 without a re-ranker
    window_similarity: float = 0.0  # cos(question, the sentence before + this one)
    soft_coverage: float = 0.0  # soft term coverage of the sentence (rerank.Similarities)
    window_soft_coverage: float = 0.0  # the same of the window

    def fused(self, w: Weights) -> float:
        # Also applied to a Features of NumPy columns (rerank scores a pool at once): the
        # same operations in the same order, so the same floats.
        return (
            self.share
            + w.coverage * self.coverage
            + w.kind * self.kind
            + w.similarity * self.similarity
            + w.window_similarity * self.window_similarity
            + w.soft_coverage * self.soft_coverage
            + w.window_soft_coverage * self.window_soft_coverage
        )


@dataclass(frozen=True)
class Scored:
    sentence: Sentence
    bm25: float  # the sentence's own BM25 score
    features: Features
    evidence: float  # what abstention compares with Fusion.min_evidence
    fused: float  # the re-ranking score


def _with_neighbours(store: Backend, ids: list[int]) -> tuple[list[Sentence], list[Sentence]]:
    """The sentences ``ids`` (in that order) and those around them, read in one query: an
    article's sentences have consecutive ids (ingest gives them so), so ids ± 1 are the
    neighbours, or an adjacent article's first or last sentence (a candidate too). Only
    where id ± 1 is missing (a removed article's gap) is the store asked."""
    want = sorted({i + d for i in ids for d in (-1, 0, 1)})
    by_id = {s.id: s for s in store.sentences(want)}
    first = [by_id[i] for i in ids if i in by_id]
    found = {(s.article_id, s.position): s for s in by_id.values()}
    for s in first:
        for d in (-1, 1):
            pos = s.position + d
            if pos < 0 or (s.article_id, pos) in found:
                continue
            # id ± 1 is another article's: this one ends there (its ids are consecutive).
            if s.id + d in by_id:
                continue
            for n in store.neighbours(s, 1, 1):
                found[(n.article_id, n.position)] = n
            break
    return first, list(found.values())


@dataclass
class Pool:
    """The re-ranked candidates of one question, as arrays over its ``sentences`` (the
    BM25 candidates and their neighbours); :meth:`at` makes one :class:`Scored`, so an
    answer builds only the few it shows."""

    sentences: list[Sentence]
    bm25: np.ndarray  # each sentence's own BM25 score
    features: np.ndarray  # one row a sentence, the :class:`Features` fields in order
    evidence: np.ndarray  # what abstention compares with Fusion.min_evidence
    fused: np.ndarray
    # Whether each sentence may be shown at all: it holds a query term, or is close in
    # meaning to the question (its cosine reaches min_evidence).
    relevant: np.ndarray
    order: np.ndarray  # indices into ``sentences``, best fused score first
    ranked: Ranked  # the BM25 ranking underneath

    def at(self, i: int) -> Scored:
        """The ``i``-th sentence of the pool (an index into ``sentences``) with its scores."""
        return Scored(
            self.sentences[i],
            float(self.bm25[i]),
            Features(*map(float, self.features[i])),
            float(self.evidence[i]),
            float(self.fused[i]),
        )

    @property
    def scored(self) -> list[Scored]:
        """Every sentence of the pool, best fused score first."""
        return [self.at(i) for i in self.order.tolist()]


def _empty_pool(ranked: Ranked) -> Pool:
    none = np.zeros(0)
    empty = np.zeros(0, bool)
    return Pool([], none, np.zeros((0, len(fields(Features)))), none, none, empty, none, ranked)


def rerank(
    store: Backend,
    question: str,
    terms: list[str],
    need: int,
    reranker: Reranker | None = None,
) -> Pool:
    """BM25 candidates and their neighbours, ordered by fused score (best first)."""
    pool = CANDIDATES if reranker is not None else LEXICAL_CANDIDATES
    ranked = rank(store, terms, need=max(pool, need))
    if len(ranked.ids) == 0:
        return _empty_pool(ranked)
    bm25 = dict(zip(ranked.ids.tolist(), ranked.scores.tolist(), strict=True))
    first, around = _with_neighbours(store, list(bm25))
    sentences = list({s.id: s for s in [*first, *around]}.values())  # ``first`` first
    ids = [s.id for s in sentences]
    # Neighbours outside the top are scored from the postings already read, not
    # tokenized, in the pass that finds which pool sentences hold each term; the top
    # keep rank()'s scores.
    own, present = ranked.lookup(ids)
    own[: len(first)] = [bm25[s.id] for s in first]
    places = [(s.article_id, s.position) for s in sentences]
    at = dict(zip(places, range(len(places)), strict=True))
    # One row a sentence: the indices of it and its neighbours in the pool, -1 for none.
    windows = np.array(
        [(at.get((a, p - 1), -1), at[a, p], at.get((a, p + 1), -1)) for a, p in places], np.int64
    )
    searched = tuple(dict.fromkeys(terms))
    term_weight = term_weights(ranked, searched)
    total = sum(term_weight.values()) or 1.0
    coverage = np.zeros(len(sentences))
    if present:  # each term's windows at once: one row a term
        in_window = gather(np.array(list(present.values())).T, windows, False).any(axis=1).T
        for t, row in zip(present, in_window, strict=True):
            coverage += term_weight[t] * row
    coverage /= total
    best = own.max()
    share = own / best if best > 0 else np.zeros(len(own))
    kind = answer_type(question)
    holds = np.zeros(len(sentences))
    if kind is not None:
        given = frozenset(words(question))
        holds[:] = [has_type(s.text, kind, given) for s in sentences]
    sim = Similarities.zeros(len(sentences))
    evidence = coverage
    if reranker is not None:
        keywords = [w for w in words(question) if w not in STOPWORDS]
        # Meaning is read with the sentence before only: a sentence's references ("the
        # event", "it") point back. Held out on SQuAD this beat the symmetric window
        # (README "Answer quality"); coverage keeps both neighbours.
        sim = reranker.similarities(question, keywords, sentences, windows[:, :2])
        evidence = sim.sentence + EVIDENCE_COVERAGE * coverage
    fusion = fusion_for(reranker)
    weights = fusion.weights
    holds_term = np.zeros(len(sentences), bool)
    for t in present:
        holds_term |= present[t]
    relevant = holds_term
    if fusion.min_evidence is not None:
        relevant = holds_term | (sim.sentence >= fusion.min_evidence)
    columns = [share, coverage, holds, sim.sentence, sim.window, sim.terms, sim.window_terms]
    features = np.column_stack([np.asarray(c, np.float64) for c in columns])
    fused = Features.fused(Features(*columns), weights)  # the same sum, a column at a time
    order = np.lexsort((np.array(ids), -own, -fused))  # ties: higher BM25, then lower id
    evidence = np.asarray(evidence, np.float64)
    return Pool(sentences, own, features, evidence, fused, relevant, order, ranked)


def answer(
    store: Backend,
    question: str,
    *,
    k: int = DEFAULT_K,
    offset: int = 0,
    reranker: Reranker | None = None,
    cut: bool = True,
) -> Answer:
    """Answer ``question`` from ``store``: at most ``k`` quotes after ``offset``.

    The quotes are the pool's sentences in fused order, each text once, that may be shown
    (:attr:`Pool.relevant`) and, with ``cut``, whose fused score is within the
    re-ranker's ``max_gap`` of the first one's: ``k`` is a maximum, never padding.
    ``cut=False`` gives the plain ranked list (``corpusbot eval`` scores both)."""
    raw = question
    question = clean(question)
    k = max(1, min(k, MAX_K))
    offset = max(0, offset)
    if not question:
        return Answer(
            raw,
            Status.INVALID,
            message="Ask a question: for example, "
            "“Which tourism year was launched in Kazakhstan in 2017?”",
        )
    if len(question) > MAX_QUESTION_CHARS:
        return Answer(
            question[:MAX_QUESTION_CHARS] + "…",
            Status.INVALID,
            message=f"Questions are limited to {MAX_QUESTION_CHARS} characters "
            f"(this one has {len(question)}).",
        )
    terms = query_terms(question)
    if not terms:
        return Answer(
            question,
            Status.INVALID,
            message="That question has only common words; "
            "add the names, places or things you are asking about.",
        )
    searched = tuple(dict.fromkeys(terms))
    pool = rerank(store, question, terms, need=offset + k + 1, reranker=reranker)
    if not pool.sentences:
        return Answer(
            question,
            Status.NOT_FOUND,
            terms=searched,
            message="No sentence in the corpus contains any of the searched terms.",
        )
    fusion = fusion_for(reranker)
    if fusion.min_evidence is not None and pool.evidence.max() < fusion.min_evidence:
        return Answer(
            question,
            Status.NOT_FOUND,
            terms=searched,
            message="No sentence in the corpus is close enough to the question.",
        )
    quotes = _quotes(pool, offset + k + 1, fusion.max_gap if cut else math.inf)
    if not quotes and offset == 0:
        return Answer(
            question,
            Status.NOT_FOUND,
            terms=searched,
            message="No sentence in the corpus is close enough to the question.",
        )
    page = quotes[offset : offset + k]
    # Only the page's articles: fetching the whole pool's cost more than ranking it.
    articles = {a.id: a for a in store.articles(sorted({x.sentence.article_id for x in page}))}
    hits = tuple(
        Hit(
            rank=offset + i,
            sentence=x.sentence,
            score=x.bm25,
            article=articles[x.sentence.article_id],
            fused=x.fused,
        )
        for i, x in enumerate(page, start=1)
    )
    if not hits:
        return Answer(
            question, Status.NOT_FOUND, terms=searched, offset=offset, message="No more results."
        )
    return Answer(
        question,
        Status.ANSWERED,
        hits=hits,
        terms=searched,
        offset=offset,
        has_more=len(quotes) > offset + k,
    )


def _quotes(pool: Pool, limit: int, max_gap: float) -> list[Scored]:
    """Up to ``limit`` quotes: the pool's relevant sentences in fused order, each text
    once, while their fused score is within ``max_gap`` of the first's."""
    out: list[Scored] = []
    seen: set[str] = set()
    for i in pool.order.tolist():
        if not pool.relevant[i]:
            continue
        if out and out[0].fused - pool.fused[i] > max_gap:
            break
        norm = " ".join(pool.sentences[i].text.split()).casefold()
        if norm not in seen:
            seen.add(norm)
            out.append(pool.at(i))
            if len(out) >= limit:
                break
    return out
