"""The storage seam: the :class:`Backend` protocol every layer above the store is typed with.

Two backends implement it: :class:`retrieval.store.Store` (one SQLite file, embedded, the
default) and :class:`retrieval.xapian_backend.XapianStore` (N remote Xapian shards). The
front ends never see the difference: ``Corpus.open`` picks one from the
:class:`~retrieval.settings.Settings`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from retrieval.models import Article, Sentence

if TYPE_CHECKING:
    import numpy as np

    from retrieval.discover import ArticleKey
    from retrieval.plan import IngestProgress, IngestReport
    from retrieval.rank import Ranked
    from retrieval.scoring import Totals


# The article fields that name an article, with their weights in a lookup by words
# (title first: a name is most often a title).
NAME_FIELD_WEIGHTS = {"title": 10, "outlet": 4, "byline": 2, "dates": 4, "file": 4}


@dataclass(frozen=True)
class ArticleQuery:
    """Words to look for in the fields that name an article: every one of them or any,
    the last maybe a prefix (a name typed so far). Each backend turns it into its own
    query (SQLite FTS5, Xapian terms), weighing the fields by
    :data:`NAME_FIELD_WEIGHTS`."""

    words: tuple[str, ...]
    every: bool = False
    prefix: bool = False


class Backend(Protocol):
    """Everything read or written through a store: what ranking, answers, ``/source``,
    ingest and ``Corpus`` need. :class:`retrieval.store.Store` (SQLite) and
    :class:`retrieval.xapian_backend.XapianStore` implement it; a backend that cannot do
    something (Xapian stores no sentence vectors) raises :class:`StoreError` saying so."""

    path: Path | str

    def read(self) -> contextlib.AbstractContextManager[Backend]:
        """The reads of one question, from one snapshot where the backend has them."""
        ...

    def totals(self) -> Totals: ...
    def counts(self) -> tuple[int, int, int]: ...
    def size_bytes(self) -> int | None: ...
    def rank(self, terms: list[str], need: int) -> Ranked: ...
    def frequencies(self, terms: list[str]) -> dict[str, int]: ...
    def sentences(self, ids: list[int]) -> list[Sentence]: ...
    def neighbours(self, sentence: Sentence, before: int, after: int) -> list[Sentence]: ...
    def article(self, article_id: int) -> Article | None: ...
    def article_by_name(self, name: str) -> Article | None: ...
    def articles(self, ids: list[int] | None = None, *, limit: int = -1) -> list[Article]: ...
    def article_text(self, article_id: int) -> str | None: ...
    def article_sentences(self, article_id: int) -> list[Sentence]: ...
    def search_articles(self, query: ArticleQuery, limit: int) -> list[tuple[Article, float]]: ...

    # What an ingest plan reads (retrieval.plan.StoredKeys), and the writes.
    def file_digests(self, key: ArticleKey) -> dict[ArticleKey, tuple[int, str]]: ...
    def has_unclaimed(self) -> bool: ...
    def unclaimed_digests(self, name: str) -> dict[str, tuple[int, str]]: ...
    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        progress: Callable[[IngestProgress], None] | None = None,
        workers: int | None = None,
    ) -> IngestReport: ...
    def remove(self, article_id: int) -> None: ...

    # Sentence vectors (the stored-vector re-ranker and `corpusbot embed`).
    def vector_count(self, model: str) -> int: ...
    def vectors(self, ids: list[int], model: str) -> dict[int, np.ndarray]: ...
    def unembedded(self, model: str, *, after: int = 0, limit: int = 256) -> list[Sentence]: ...
    def put_vectors(self, model: str, vectors: dict[int, np.ndarray]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class XapianShard:
    """A Xapian shard server (not a Discord gateway shard: see bot/config.py)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"
