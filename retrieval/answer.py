"""Question → :class:`Answer`: the function every front end calls (through Corpus).

The data flows: the question's terms and kind (retrieval/question.py) → exact BM25 top
sentences (retrieval/rank.py) → a pool of them and their neighbours with their features
(:func:`build_pool`) → one fused score a sentence (retrieval/fusion.py; with ``cross``,
plus a cross-encoder's score for the best few) → "not found"
when no candidate is close enough to the question (abstention), else the quotes that pass
the relevance cut → the page asked for (``offset``, ``k``). docs/answer-quality.md has the
figures and how each constant was chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np

from retrieval.backend import Backend
from retrieval.fusion import EVIDENCE_COVERAGE, Features, Fusion, fusion_for
from retrieval.models import Answer, Article, Hit, Sentence, Status
from retrieval.question import (
    answer_type,
    has_type,
    points_at_one_article,
    query_terms,
    with_apostrophes,
)
from retrieval.rank import Ranked, rank
from retrieval.rerank import PairScore, Reranker, Similarities, gather
from retrieval.spelling import correct
from retrieval.text import STOPWORDS, clean, words

MAX_QUESTION_CHARS = 300
DEFAULT_K = 3
MAX_K = 25

# The BM25 top sentences that are re-ranked, with their neighbours. With a semantic
# re-ranker 30 give the same answers as 100 on SQuAD public, dev and off-topic (20 lose
# a SQuAD question) for a third of the re-ranking work. With lexical evidence alone a
# sentence below the BM25 top 10 does not come back up: 10 give the answers of 30 (one
# SQuAD public question better, none worse) for a third of the work (docs/answer-quality.md).
CANDIDATES = 30
LEXICAL_CANDIDATES = 10


def term_weights(ranked: Ranked, terms: tuple[str, ...]) -> dict[str, float]:
    """Each distinct query term's weight in the coverage shares: an idf that is positive
    for every term (Lucene's ``log(1 + (N - df + 0.5) / (df + 0.5))``), so a term in
    half of a tiny corpus still counts, where BM25Okapi gives it nothing. A term the
    corpus never uses weighs as much as the rarest possible term."""
    n = ranked.sentences
    df = ranked.frequencies()
    return {t: math.log(1 + (n - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5)) for t in terms}


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


def rank_within(store: Backend, terms: list[str], article: list[Sentence], need: int) -> Ranked:
    """The BM25 top ``need`` of one article's sentences (``article``, as
    ``store.article_sentences`` gives them): the corpus's BM25 (its idf, its average
    length), ties to the lower id. Every sentence is scored, through the scorer a corpus
    ranking brings (postings on SQLite, term counts on Xapian), so none is missed."""
    ranked = rank(store, terms, need=1)
    ids = np.array([s.id for s in article], np.int64)
    scores = ranked.score(ids.tolist()) if len(ids) else np.zeros(0)
    held = scores > 0
    ids, scores = ids[held], scores[held]
    top = np.lexsort((ids, -scores))[:need]
    return replace(ranked, ids=ids[top], scores=scores[top])


def _article_neighbours(
    article: list[Sentence], ids: list[int]
) -> tuple[list[Sentence], list[Sentence]]:
    """:func:`_with_neighbours` within one article whose sentences are already read."""
    by_id = {s.id: s for s in article}
    first = [by_id[i] for i in ids]
    by_position = {s.position: s for s in article}
    around = {
        n.id: n
        for s in first
        for n in (by_position.get(s.position - 1), s, by_position.get(s.position + 1))
        if n is not None
    }
    return first, [around[i] for i in sorted(around)]


def build_pool(
    store: Backend,
    question: str,
    terms: list[str],
    need: int,
    reranker: Reranker | None = None,
    article_id: int | None = None,
) -> Pool:
    """BM25 candidates and their neighbours, ordered by fused score (best first); with
    ``article_id``, only that article's sentences."""
    pool = CANDIDATES if reranker is not None else LEXICAL_CANDIDATES
    if article_id is None:
        ranked = rank(store, terms, need=max(pool, need))
    else:
        article = store.article_sentences(article_id)
        ranked = rank_within(store, terms, article, need=max(pool, need))
    if len(ranked.ids) == 0:
        return _empty_pool(ranked)
    bm25 = dict(zip(ranked.ids.tolist(), ranked.scores.tolist(), strict=True))
    if article_id is None:
        first, around = _with_neighbours(store, list(bm25))
    else:
        first, around = _article_neighbours(article, list(bm25))
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
        # (docs/answer-quality.md); coverage keeps both neighbours.
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
    pair_scores = getattr(reranker, "pair_scores", None)
    if fusion.pair_weight and pair_scores is not None:
        fused = _with_pair_scores(pair_scores, question, sentences, fused, relevant, order, fusion)
        order = np.lexsort((np.array(ids), -own, -fused))
    evidence = np.asarray(evidence, np.float64)
    return Pool(sentences, own, features, evidence, fused, relevant, order, ranked)


def _with_pair_scores(
    pair_scores: PairScore,
    question: str,
    sentences: list[Sentence],
    fused: np.ndarray,
    relevant: np.ndarray,
    order: np.ndarray,
    fusion: Fusion,
) -> np.ndarray:
    """``fused`` plus ``pair_weight`` × the cross-encoder's score, for the first
    ``pair_top`` sentences of ``order`` that may be shown. Every other sentence gets the
    lowest of those scores: one that may be shown stays below all of them, in its order."""
    top = order[relevant[order]][: fusion.pair_top]
    if not len(top):
        return fused
    scores = pair_scores(question, [sentences[i].text for i in top.tolist()])
    out = fused + fusion.pair_weight * scores.min()
    out[top] = fused[top] + fusion.pair_weight * scores
    return out


def answer(
    store: Backend,
    question: str,
    *,
    k: int = DEFAULT_K,
    offset: int = 0,
    reranker: Reranker | None = None,
    cut: bool = True,
    within: Article | None = None,
) -> Answer:
    """Answer ``question`` from ``store``: at most ``k`` quotes after ``offset``.

    The quotes are the pool's sentences in fused order, each text once, that may be shown
    (:attr:`Pool.relevant`) and, with ``cut``, whose fused score is within the
    re-ranker's ``max_gap`` of the first one's: ``k`` is a maximum, never padding.
    ``cut=False`` gives the plain ranked list (``corpusbot eval`` scores both).
    ``within`` asks one article only: the same ranking, over its sentences."""
    answer = _answer(store, question, k, offset, reranker, cut, within, spell=True)
    if within is not None:
        return replace(answer, within=within)
    if answer.status is not Status.INVALID and points_at_one_article(answer.question):
        return replace(answer, unnamed_article=True)
    return answer


def _answer(
    store: Backend,
    question: str,
    k: int,
    offset: int,
    reranker: Reranker | None,
    cut: bool,
    within: Article | None,
    *,
    spell: bool,
) -> Answer:
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
    # Searched as read ("whats" as "what's", a misspelt word as the corpus's); shown as typed.
    written = with_apostrophes(question)
    spelling = correct(written, store.frequencies) if spell else None
    if spelling is not None:
        read = _answer(store, spelling.question, k, offset, reranker, cut, within, spell=False)
        return replace(read, question=question, read_as=spelling.read_as)
    searched = tuple(dict.fromkeys(terms))
    pool = build_pool(
        store,
        written,
        terms,
        need=offset + k + 1,
        reranker=reranker,
        article_id=within.id if within is not None else None,
    )
    where = "the corpus" if within is None else "this article"
    if not pool.sentences:
        return Answer(
            question,
            Status.NOT_FOUND,
            terms=searched,
            message=f"No sentence in {where} contains any of the searched terms.",
        )
    fusion = fusion_for(reranker)
    if fusion.min_evidence is not None and pool.evidence.max() < fusion.min_evidence:
        return Answer(
            question,
            Status.NOT_FOUND,
            terms=searched,
            message=f"No sentence in {where} is close enough to the question.",
        )
    quotes = _quotes(pool, offset + k + 1, fusion.max_gap if cut else math.inf)
    if not quotes and offset == 0:
        return Answer(
            question,
            Status.NOT_FOUND,
            terms=searched,
            message=f"No sentence in {where} is close enough to the question.",
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
