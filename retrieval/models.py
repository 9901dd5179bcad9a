"""Small frozen dataclasses that cross the layers (store → answer → CLI / bot)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class Article:
    """An article's metadata as stored (the text itself is fetched on demand)."""

    id: int
    file: str  # file name (path relative to the ingested folder) it came from
    title: str
    outlet: str | None = None
    byline: str | None = None
    date: str | None = None  # ISO 8601 (YYYY-MM-DD) when known
    url: str | None = None
    sentences: int = 0  # number of searchable sentences

    def citation(self) -> str:
        """``Title — Outlet, 2017-06-07`` with whatever parts are known."""
        tail = ", ".join(p for p in (self.outlet, self.date) if p)
        return f"{self.title} — {tail}" if tail else self.title


@dataclass(frozen=True)
class Sentence:
    """One searchable sentence: ``text == article_text[start:end]``."""

    id: int
    article_id: int
    position: int  # 0-based order among the article's searchable sentences
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Hit:
    """A sentence returned for a question, with its BM25 score."""

    rank: int  # 1-based over the whole result list (offset included)
    sentence: Sentence
    score: float  # its own BM25 score
    article: Article
    fused: float | None = None  # the re-ranking score that ordered it


@dataclass(frozen=True)
class Citation:
    """One cited article and the hits quoted from it (in rank order)."""

    number: int  # 1-based marker: [1], [2], ...
    article: Article
    hits: tuple[Hit, ...]


class Status(StrEnum):
    ANSWERED = "answered"
    NOT_FOUND = "not_found"  # a valid question the corpus does not answer
    INVALID = "invalid"  # empty, too long, or nothing searchable in it


@dataclass(frozen=True)
class Answer:
    """What every front end renders for a question."""

    question: str
    status: Status
    hits: tuple[Hit, ...] = ()
    message: str = ""  # why not found / invalid, for people
    terms: tuple[str, ...] = ()  # the query terms searched
    offset: int = 0  # how many results were skipped (paging: "More")
    has_more: bool = False  # whether more results exist after these
    within: Article | None = None  # the one article searched, when the question named one
    # The question points at one article without naming it ("this study") and was asked
    # of the whole corpus: front ends suggest asking within that article.
    unnamed_article: bool = False
    # Misspelt words searched as the corpus's own: (typed, read as), in question order.
    read_as: tuple[tuple[str, str], ...] = ()

    @property
    def answered(self) -> bool:
        return self.status is Status.ANSWERED

    @property
    def reading(self) -> str:
        """``Read “exppo” as “expo”.`` for the misspelt words searched otherwise, or ""
        (letters only on both sides: nothing in it renders as markdown)."""
        if not self.read_as:
            return ""
        return "Read " + ", ".join(f"“{typed}” as “{read}”" for typed, read in self.read_as) + "."

    @property
    def citations(self) -> tuple[Citation, ...]:
        """Hits grouped by article, articles numbered in order of first appearance."""
        order: dict[int, list[Hit]] = {}
        for hit in self.hits:
            order.setdefault(hit.article.id, []).append(hit)
        return tuple(
            Citation(number=i, article=hits[0].article, hits=tuple(hits))
            for i, hits in enumerate(order.values(), start=1)
        )

    def marker(self, hit: Hit) -> int:
        """The citation number ``[n]`` of a hit's article."""
        for c in self.citations:
            if c.article.id == hit.article.id:
                return c.number
        raise ValueError("hit is not part of this answer")


@dataclass(frozen=True)
class SourceMatch:
    """The result of naming an article: one clear winner, or candidates to choose from."""

    query: str
    article: Article | None  # set when one article clearly wins
    candidates: tuple[Article, ...] = field(default=())  # best first, when no clear winner

    @property
    def found(self) -> bool:
        return self.article is not None


@dataclass(frozen=True)
class CorpusStats:
    articles: int
    sentences: int
    terms: int
    avg_sentence_length: float
    db_bytes: int | None  # None: not known here (Xapian: on the shard servers' disks)
    reranker: str = "none"  # the semantic re-ranker chosen (docs/answer-quality.md, "Re-rankers")
    reranker_ready: bool = True  # False when its model is not installed or failed to load
    vectors: int = 0  # sentences with a stored MiniLM vector (`corpusbot embed`)
