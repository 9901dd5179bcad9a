"""Question → :class:`Answer`: the function every front end calls (through Corpus).

Steps: check the question, turn it into terms, rank sentences with exact BM25, decide
whether the best sentence is evidence enough (else "not found"), then return the top
``k`` whole sentences, each once, with their articles.
"""

from __future__ import annotations

import math
import re
import unicodedata

from retrieval.index import rank
from retrieval.models import Answer, Hit, Status
from retrieval.store import Store
from retrieval.text import tokenize

MAX_QUESTION_CHARS = 300
DEFAULT_K = 3
MAX_K = 25

# Abstention: the share of the question's idf mass (unknown terms count at the highest
# idf the corpus could give them) that the best sentence contains. Scale-free, so it
# means the same in any corpus; calibrated on shared/eval/dev.jsonl (README).
MIN_COVERAGE = 0.2

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def clean_question(question: str) -> str:
    """Drop control and zero-width characters and lone surrogates; fold whitespace."""
    question = question.encode("utf-8", "replace").decode("utf-8")  # lone surrogates → "?"
    question = _CONTROL.sub("", unicodedata.normalize("NFC", question))
    return " ".join(question.split())


def query_terms(question: str) -> list[str]:
    """The BM25 terms of a question (the same tokenizer as sentences)."""
    return tokenize(question)


def coverage(
    terms: tuple[str, ...], idf: dict[str, float], sentence_terms: set[str], unknown_idf: float
) -> float:
    """Share of the question's idf mass found in a sentence's terms; a term the corpus
    never uses weighs as much as the rarest possible term."""
    weights = {t: max(idf[t], 0.0) if t in idf else unknown_idf for t in terms}
    total = sum(weights.values())
    found = sum(w for t, w in weights.items() if t in sentence_terms)
    return found / total if total else 0.0


def answer(store: Store, question: str, *, k: int = DEFAULT_K, offset: int = 0) -> Answer:
    """Answer ``question`` from ``store``: the best ``k`` sentences after ``offset``."""
    raw = question
    question = clean_question(question)
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
    totals = store.totals()
    # Fetch a few extra so duplicates can be dropped and "More" knows if more exist.
    ranked = rank(store, terms, need=offset + k + 1 + 2 * k)
    searched = tuple(dict.fromkeys(terms))
    if len(ranked.ids) == 0:
        return Answer(
            question,
            Status.NOT_FOUND,
            terms=searched,
            message="No sentence in the corpus contains any of the searched terms.",
        )
    sentences = store.sentences(ranked.ids.tolist())
    score_of = dict(zip(ranked.ids.tolist(), ranked.scores.tolist(), strict=True))
    unknown_idf = math.log((totals.sentences + 0.5) / 0.5)
    best_terms = set(tokenize(sentences[0].text))
    if coverage(searched, ranked.idf, best_terms, unknown_idf) < MIN_COVERAGE:
        return Answer(
            question,
            Status.NOT_FOUND,
            terms=searched,
            message="No sentence in the corpus matches enough of the question.",
        )
    unique, seen = [], set()
    for s in sentences:
        norm = " ".join(s.text.split()).casefold()
        if norm not in seen:
            seen.add(norm)
            unique.append(s)
    page = unique[offset : offset + k]
    articles = {a.id: a for a in store.articles(sorted({s.article_id for s in page}))}
    hits = tuple(
        Hit(rank=offset + i, sentence=s, score=score_of[s.id], article=articles[s.article_id])
        for i, s in enumerate(page, start=1)
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
