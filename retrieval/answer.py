"""Question → :class:`Answer`: the function every front end calls (through Corpus).

Steps: check the question, turn it into terms (dropping the words that only frame it),
rank sentences with exact BM25, re-rank the top ones by a context score (own BM25 plus a
share of the neighbours' and the title's, boosted when the sentence holds the asked
kind of thing), decide whether the best sentence is evidence enough (else "not found"),
drop the tail far below the best, then return the top ``k`` whole sentences, each once,
with their articles and their own BM25 scores. README "Answer quality" has the figures.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from retrieval.index import Ranked, rank
from retrieval.models import Answer, Article, Hit, Sentence, Status
from retrieval.rerank import Reranker
from retrieval.store import Store
from retrieval.text import clean, tokenize, words

MAX_QUESTION_CHARS = 300
DEFAULT_K = 3
MAX_K = 25

# Re-ranking (README "Answer quality"): a sentence's BM25 score plus a share of its
# neighbours' and its article title's BM25 scores for the same query, times a boost
# when it holds the kind of thing a "when"/"how many" question asks for. Hits keep their
# own BM25 score; only the order and the evidence checks use the context score.
CANDIDATES = 100  # BM25 top sentences (and their neighbours) that are re-ranked
NEIGHBOUR_WEIGHT = 0.5
TITLE_WEIGHT = 0.3
TYPE_BOOST = 0.25

# Abstention: the share of the question's idf mass (unknown terms count at the highest
# idf the corpus could give them) that the best sentence contains. Scale-free, so it
# means the same in any corpus. Calibrated on shared/eval/dev.jsonl: the lowest share for
# an answerable dev question is 0.28, the unanswerable ones reach 0.40-0.48, so no
# threshold separates them; 0.2 refuses nothing answerable (README "Answer quality").
MIN_COVERAGE = 0.2

# Tail rule: a hit whose context score is below this share of the best one is noise.
TAIL_RATIO = 0.4


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
_REASON_PHRASES = (" in order to ", " so as to ", " so that ", " to help ", " as a result ")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")


def _question_words(question: str) -> tuple[list[str], str | None]:
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
    return [w for w, k in zip(ws, keep, strict=True) if k], kind


def query_terms(question: str) -> list[str]:
    """The BM25 terms of a question: the same tokenizer as sentences, after dropping the
    words that only frame it ("what date", "what is the purpose of", "how many",
    "roughly", "according to"). Falls back to all its terms if nothing else is left."""
    kept, _ = _question_words(question)
    return tokenize(" ".join(kept)) or tokenize(question)


def answer_type(question: str) -> str | None:
    return _question_words(question)[1]


def has_type(text: str, kind: str | None) -> bool:
    """Whether a sentence holds a thing of the asked kind (a number, a date)."""
    if kind is None:
        return False
    ws = words(text)
    if kind == "number":
        return any(w[0].isdigit() or w in _NUMBER_WORDS for w in ws)
    if kind == "reason":
        joined = f" {' '.join(ws)} "
        return any(w in _REASON_WORDS for w in ws) or any(p in joined for p in _REASON_PHRASES)
    return any(w in _DATE_WORDS or _YEAR.match(w) for w in ws)


def coverage(
    terms: tuple[str, ...], idf: dict[str, float], sentence_terms: set[str], unknown_idf: float
) -> float:
    """Share of the question's idf mass found in a sentence's terms; a term the corpus
    never uses weighs as much as the rarest possible term."""
    weights = {t: max(idf[t], 0.0) if t in idf else unknown_idf for t in terms}
    total = sum(weights.values())
    found = sum(w for t, w in weights.items() if t in sentence_terms)
    return found / total if total else 0.0


@dataclass
class Scored:
    sentence: Sentence
    bm25: float  # the sentence's own BM25 score
    context: float = 0.0  # the re-ranking score


def _neighbours(store: Store, sentences: list[Sentence]) -> dict[tuple[int, int], Sentence]:
    """Sentences around ``sentences`` keyed by (article id, position)."""
    want = {i for s in sentences for i in (s.id - 1, s.id + 1)}
    found = {(s.article_id, s.position): s for s in store.sentences(sorted(want))}
    for s in sentences:  # ids are consecutive within an article; check, else ask the store
        for pos in (s.position - 1, s.position + 1):
            if pos >= 0 and (s.article_id, pos) not in found:
                for n in store.neighbours(s, 1, 1):
                    found[(n.article_id, n.position)] = n
                break
    return found


@dataclass
class Reranked:
    """The re-ranked pool of one question, with what the answer needs from the ranking."""

    scored: list[Scored]  # best context score first
    ranked: Ranked  # the BM25 ranking underneath: idf, corpus size
    articles: dict[int, Article]  # every article of the pool, by id


def rerank(store: Store, question: str, terms: list[str], need: int) -> Reranked:
    """BM25 candidates and their neighbours, ordered by context score (best first)."""
    ranked = rank(store, terms, need=max(CANDIDATES, need))
    if len(ranked.ids) == 0:
        return Reranked([], ranked, {})
    score = dict(zip(ranked.ids.tolist(), ranked.scores.tolist(), strict=True))
    first = store.sentences(list(score))
    around = _neighbours(store, first)
    pool = {s.id: s for s in first} | {s.id: s for s in around.values()}
    # Neighbours outside the top are scored from the postings already read, not tokenized.
    others = [i for i in pool if i not in score]
    score.update(zip(others, ranked.score(others).tolist(), strict=True))
    articles = {a.id: a for a in store.articles(sorted({s.article_id for s in pool.values()}))}
    title_scores = ranked.score_tokens([tokenize(a.title) for a in articles.values()])
    titles = dict(zip(articles, title_scores.tolist(), strict=True))
    kind = answer_type(question)
    out = []
    for i, s in pool.items():
        near = [around.get((s.article_id, s.position + d)) for d in (-1, 1)]
        ctx = (
            score[i]
            + NEIGHBOUR_WEIGHT * sum(score[n.id] for n in near if n)
            + TITLE_WEIGHT * titles.get(s.article_id, 0.0)
        )
        if has_type(s.text, kind):
            ctx *= 1 + TYPE_BOOST
        out.append(Scored(s, score[i], ctx))
    out.sort(key=lambda x: (-x.context, -x.bm25, x.sentence.id))
    return Reranked(out, ranked, articles)


def answer(
    store: Store,
    question: str,
    *,
    k: int = DEFAULT_K,
    offset: int = 0,
    reranker: Reranker | None = None,
) -> Answer:
    """Answer ``question`` from ``store``: the best ``k`` sentences after ``offset``."""
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
    pool = rerank(store, question, terms, need=offset + k + 1 + 2 * k)
    scored = pool.scored
    if not scored:
        return Answer(
            question,
            Status.NOT_FOUND,
            terms=searched,
            message="No sentence in the corpus contains any of the searched terms.",
        )
    unknown_idf = math.log((pool.ranked.sentences + 0.5) / 0.5)
    best_terms = set(tokenize(scored[0].sentence.text))
    if coverage(searched, pool.ranked.idf, best_terms, unknown_idf) < MIN_COVERAGE:
        return Answer(
            question,
            Status.NOT_FOUND,
            terms=searched,
            message="No sentence in the corpus matches enough of the question.",
        )
    floor = TAIL_RATIO * scored[0].context
    unique, seen = [], set()
    for x in scored:
        if x.context < floor or x.bm25 <= 0:
            break
        norm = " ".join(x.sentence.text.split()).casefold()
        if norm not in seen:
            seen.add(norm)
            unique.append(x)
    page = unique[offset : offset + k]
    articles = pool.articles
    hits = tuple(
        Hit(
            rank=offset + i,
            sentence=x.sentence,
            score=x.bm25,
            article=articles[x.sentence.article_id],
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
        has_more=len(unique) > offset + k,
    )
