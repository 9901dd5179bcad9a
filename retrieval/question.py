"""What a question asks: its search terms without the words that only frame it, the
kind of thing it asks for (a number, a date, a reason) and whether a sentence holds one,
and whether it points at one article it does not name ("this study")."""

from __future__ import annotations

import functools
import re

from retrieval.stopwords import STOPWORDS
from retrieval.text import stems, tokenize, words

# Chat drops apostrophes: "whats the aim", "didnt china sign". A word so typed is read as
# the contraction it stands for. None of these is a content word (of NLTK's contractions
# only "wont" is an English word too, and it is rare in a question).
_APOSTROPHE_AT: dict[str, int] = {
    w.replace("'", ""): w.index("'")
    for w in STOPWORDS | {f"{wh}'s" for wh in ("what", "who", "how", "where", "when", "why")}
    if "'" in w and w.replace("'", "") not in STOPWORDS
}
_PLAIN_WORD = re.compile(r"(?<!['’])\b[^\W\d_]+\b(?!['’])")


def with_apostrophes(question: str) -> str:
    """``question`` with each contraction typed without its apostrophe written with it,
    in the case it was typed in ("Whats" → "What's", "didnt" → "didn't"): what the
    search, the question's frame and the re-ranker read."""
    return _PLAIN_WORD.sub(_restore, question)


def _restore(m: re.Match[str]) -> str:
    word = m.group()
    at = _APOSTROPHE_AT.get(word.casefold())
    return word if at is None else f"{word[:at]}'{word[at:]}"


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
        # a measure: "what percentage", "what proportion of"
        "percentage",
        "percent",
        "proportion",
        "fraction",
    }
)
# A measure that frames a question only right after "how" ("how long", not "what is the
# long-term …"); it asks for a number.
_HOW_MEASURES = frozenset({"long", "often", "old", "far"})
# The frame words that ask for a number after "how", "what" or "which".
_MEASURES = frozenset(
    {"many", "much", "number", "amount"} | {"percentage", "percent", "proportion", "fraction"}
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
    ws = words(with_apostrophes(question))
    keep = [True] * len(ws)
    kind = None
    for i, w in enumerate(ws):
        if w in _HEDGES:
            keep[i] = False
        # The first word that asks for a kind wins: "what percentage …, when there is no
        # intervention?" asks for a number.
        if w == "when":
            kind = kind or "date"
        elif w == "why":
            kind = kind or "reason"
        if w not in _WH:
            continue
        j = i + 1
        while j < len(ws) and ws[j] in _FILLER:
            j += 1
        if w == "how" and j == i + 1 < len(ws) and ws[j] in _HOW_MEASURES:
            keep[j] = False
            kind = kind or "number"
        elif j < len(ws) and ws[j] in _FRAME:
            keep[j] = False
            frame = ws[j]
            if frame in _MEASURES and w in ("how", "what", "which"):
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
    return stems([w for w in kept if w not in STOPWORDS]) or tokenize(with_apostrophes(question))


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


# "this study", "these authors", "the present paper": a question written while reading one
# article, which the words of a corpus of many cannot tell apart (docs/answer-quality.md,
# "Asking within one article"). Answers are unchanged; front ends suggest naming it.
_ONE_ARTICLE = re.compile(
    r"\b(?:this|these|the present)\s+(?:study|studies|paper|report|article|review|work|"
    r"analysis|research|survey|trial|authors?|investigation|manuscript|story|piece)\b"
)


def points_at_one_article(question: str) -> bool:
    """Whether ``question`` speaks of "this study" (or paper, report, article, authors…)
    without naming it."""
    return _ONE_ARTICLE.search(" ".join(words(question))) is not None
