"""The storage seam: what ranking, answers, ``/source`` and ``Corpus`` need from a store.

Two backends implement it: :class:`retrieval.store.Store` (one SQLite file, embedded, the
default) and :class:`retrieval.xapian_backend.XapianStore` (N remote Xapian shards). The
front ends never see the difference: ``Corpus.open`` picks one from the settings below.

- ``CORPUSBOT_BACKEND``: ``sqlite`` (default) or ``xapian``.
- ``CORPUSBOT_SHARDS``: ``host:port,host:port,…`` of the shard servers (xapian only). The
  order matters: an article's shard is chosen by a hash of its identity modulo the count.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from retrieval.errors import StoreError
from retrieval.models import Article, Sentence

if TYPE_CHECKING:
    from retrieval.ingest import IngestProgress, IngestReport
    from retrieval.rank import Ranked
    from retrieval.store import Totals

BACKENDS = ("sqlite", "xapian")


class Backend(Protocol):
    """Everything read or written through a store (SQLite's :class:`Store` has these; its
    ranking is :func:`retrieval.rank.rank`, which hands other backends to ``rank``)."""

    path: Path | str

    def totals(self) -> Totals: ...
    def counts(self) -> tuple[int, int, int]: ...
    def sentences(self, ids: list[int]) -> list[Sentence]: ...
    def neighbours(self, sentence: Sentence, before: int, after: int) -> list[Sentence]: ...
    def article(self, article_id: int) -> Article | None: ...
    def article_by_name(self, name: str) -> Article | None: ...
    def articles(self, ids: list[int] | None = None, *, limit: int = -1) -> list[Article]: ...
    def article_text(self, article_id: int) -> str | None: ...
    def article_sentences(self, article_id: int) -> list[Sentence]: ...
    def search_articles(self, match: str, limit: int) -> list[tuple[Article, float]]: ...
    def size_bytes(self) -> int: ...
    def add_feedback(self, row: dict) -> None: ...
    def close(self) -> None: ...


class RemoteBackend(Backend, Protocol):
    """A backend that ranks and writes itself (no SQL postings to hand to rank.rank)."""

    def rank(self, terms: list[str], need: int) -> Ranked: ...
    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        progress: Callable[[IngestProgress], None] | None = None,
        workers: int | None = None,
    ) -> IngestReport: ...
    def remove(self, article_id: int) -> None: ...


@dataclass(frozen=True)
class Shard:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class BackendSettings:
    kind: str = "sqlite"
    shards: tuple[Shard, ...] = ()


def parse_shards(value: str) -> tuple[Shard, ...]:
    """``host:port,host:port`` → shards; a malformed entry raises a one-line StoreError."""
    shards = []
    for item in (s.strip() for s in value.split(",")):
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdecimal() or not 0 < int(port) < 65536:
            raise StoreError(f"CORPUSBOT_SHARDS: {item!r} is not host:port")
        shards.append(Shard(host.strip("[]"), int(port)))
    if len(set(shards)) != len(shards):
        raise StoreError("CORPUSBOT_SHARDS names the same shard twice")
    return tuple(shards)


def settings(environ: Mapping[str, str] | None = None) -> BackendSettings:
    """The backend chosen by ``CORPUSBOT_BACKEND`` / ``CORPUSBOT_SHARDS``."""
    environ = os.environ if environ is None else environ
    kind = (environ.get("CORPUSBOT_BACKEND") or "sqlite").strip().lower()
    if kind not in BACKENDS:
        raise StoreError(f"CORPUSBOT_BACKEND must be one of {', '.join(BACKENDS)}, not {kind!r}")
    if kind == "sqlite":
        return BackendSettings()
    shards = parse_shards(environ.get("CORPUSBOT_SHARDS") or "")
    if not shards:
        raise StoreError("CORPUSBOT_BACKEND=xapian needs CORPUSBOT_SHARDS=host:port,…")
    return BackendSettings(kind, shards)
