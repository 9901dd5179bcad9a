"""An ingest's decisions, made once for every backend: what to add, replace, keep, remove
or skip, and why.

:func:`planned` discovers the files (:mod:`retrieval.discover`), reads what the backend
already holds for each through :class:`StoredKeys`, and has the files prepared
(:mod:`retrieval.prepare`). The :class:`Plan` it yields then hands out operations: a
:class:`Part` per file (or part of a large file) with its :class:`Write`\\ s, then the
:class:`Remove`\\ s. A backend only applies them, in its own transaction(s)
(:func:`retrieval.ingest.apply` for SQLite, ``retrieval.xapian_writer`` for Xapian),
so both hold the same articles with the same ids after the same ingests.

The rules: re-ingesting an unchanged article does nothing (content digest); a changed
one replaces its old version; a JSONL line that disappeared from its file is removed,
unless the file had a problem this time (then its missing lines are kept); a file or
line that cannot be read is reported and skipped while the rest goes in; the same
article twice in one ingest (one JSONL id in two parts of a file) goes in once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from retrieval.discover import ArticleKey, SourceFile, discover
from retrieval.postings import Chunk
from retrieval.prepare import (
    DEFAULT_SIZES,
    IngestSizes,
    Prepared,
    PreparedArticle,
    StoredDigests,
    input_size,
    prepared_in_order,
    tasks_for,
)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)  # article names
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # JSONL lines no longer in their file
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path[:line], reason)
    sentences: int = 0

    def summary(self) -> str:
        removed = f"{len(self.removed)} removed, " if self.removed else ""
        return (
            f"{len(self.added)} added, {len(self.replaced)} replaced, "
            f"{len(self.unchanged)} unchanged, {removed}{len(self.failed)} failed; "
            f"{self.sentences} sentences indexed"
        )


@dataclass(frozen=True)
class IngestProgress:
    """Passed to the ``progress`` callback after each file (or part of a large file)."""

    files: int  # files finished
    files_total: int
    articles: int  # articles added or replaced so far
    sentences: int  # sentences indexed so far


class StoredKeys(Protocol):
    """What a plan reads from a backend: the articles it holds, by key."""

    def file_digests(self, key: ArticleKey) -> StoredDigests:
        """The stored articles of the file whose key is ``key``: itself or its
        ``key#id`` JSONL lines."""
        ...

    def has_unclaimed(self) -> bool:
        """Whether any stored article still lacks a key (stored by an older version)."""
        ...

    def unclaimed_digests(self, name: str) -> dict[str, tuple[int, str]]:
        """Like :meth:`file_digests`, for the articles without a key, by their name."""
        ...


@dataclass(frozen=True)
class Claim:
    """A stored article without a key (an older version's) takes ``key``."""

    key: ArticleKey
    article_id: int


@dataclass(frozen=True)
class Write:
    """Add an article, or replace the stored one ``replaces`` (its id) with it."""

    key: ArticleKey
    article: PreparedArticle
    at: int  # the index of its first sentence in its part's chunk
    replaces: int | None = None


@dataclass(frozen=True)
class Part:
    """The writes of one prepared file (or part of one), in order. ``chunk`` holds their
    sentences and no others, counted into postings."""

    source: SourceFile
    writes: list[Write]
    chunk: Chunk
    last_part: bool


@dataclass(frozen=True)
class Remove:
    """Delete a stored article its file no longer holds."""

    key: ArticleKey
    name: str
    article_id: int


class Plan:
    """The operations of one ingest, made as the prepared files arrive."""

    def __init__(
        self,
        results: Iterable[Prepared],
        sources: dict[ArticleKey, SourceFile],
        known: dict[ArticleKey, StoredDigests],
        claims: list[Claim],
        report: IngestReport,
        progress: Callable[[IngestProgress], None] | None,
        large: bool,
    ):
        self.report = report
        self.claims = claims
        self.large = large  # enough input to sync the writes as they go
        self._results = results
        self._sources = sources
        self._known = known
        self._progress = progress
        self._seen: dict[ArticleKey, set[ArticleKey]] = {}  # file key -> keys it still holds
        self._troubled: set[ArticleKey] = set()  # files with a problem: missing lines kept
        self._parts_done = False

    def parts(self) -> Iterator[Part]:
        """Each file's (part's) writes. Progress is reported when the caller asks for
        the next part, that is, once it has applied this one."""
        report = self.report
        batch: set[ArticleKey] = set()
        files = articles = sentences = 0
        for prepared in self._results:
            source = prepared.source
            report.unchanged += prepared.unchanged
            report.failed += prepared.problems
            if prepared.problems:
                self._troubled.add(source.key)
            self._seen.setdefault(source.key, set()).update(map(source.key_of, prepared.names))
            known = self._known[source.key]
            writes, skipped, at, kept = [], [], 0, 0
            for item in prepared.articles:
                name, n = item.article.file, len(item.spans)
                key = source.key_of(name)
                if key in batch:  # the same id in two parts of one JSONL file
                    report.failed.append((name, "duplicate article id in this ingest"))
                    skipped.append((at, at + n))
                    at += n
                    continue
                batch.add(key)
                old = known.get(key)
                (report.replaced if old else report.added).append(name)
                writes.append(Write(key, item, kept, old[0] if old else None))
                at += n
                kept += n
            chunk = prepared.chunk.without(skipped) if skipped else prepared.chunk
            yield Part(source, writes, chunk, prepared.last_part)
            files += prepared.last_part
            articles += len(writes)
            sentences += kept
            report.sentences = sentences
            if self._progress:
                self._progress(IngestProgress(files, len(self._sources), articles, sentences))
        self._parts_done = True

    def removals(self) -> list[Remove]:
        """The stored articles that their files, read without a problem, no longer hold
        (asked once every part is applied)."""
        if not self._parts_done:
            raise RuntimeError("removals are known once every part is applied")
        out = []
        for file_key, keys in self._seen.items():
            if file_key in self._troubled:
                continue
            source = self._sources[file_key]
            for key, (article_id, _) in sorted(self._known[file_key].items()):
                if key not in keys and key != file_key:
                    out.append(Remove(key, source.name_of(key), article_id))
                    self.report.removed.append(source.name_of(key))
        return out


@contextlib.contextmanager
def planned(
    store: StoredKeys,
    paths: Iterable[str | Path],
    *,
    progress: Callable[[IngestProgress], None] | None = None,
    workers: int | None = None,
    sizes: IngestSizes = DEFAULT_SIZES,
) -> Iterator[Plan]:
    """The plan of ingesting ``paths`` into ``store``, its files prepared as it goes.

    ``workers``: processes that parse and tokenize (default: one per CPU when the input
    is large enough to pay for starting them; 0 or 1: do it all in this process).
    ``sizes``: when to start workers, split a file, write postings out."""
    report = IngestReport()
    sources: dict[ArticleKey, SourceFile] = {}
    for item in discover(paths):
        if isinstance(item, tuple):
            report.failed.append(item)
        else:
            sources.setdefault(item.key, item)  # the same file named twice goes in once
    known = {key: store.file_digests(key) for key in sources}
    claims = _claims(store, sources, known)
    tasks = tasks_for(sources.values(), known, sizes)
    large = input_size(sources.values()) >= sizes.parallel_bytes
    if workers is None:
        workers = (os.cpu_count() or 1) if large else 0
    with prepared_in_order(tasks, sources.values(), workers, sizes) as results:
        yield Plan(results, sources, known, claims, report, progress, large)


def _claims(
    store: StoredKeys,
    sources: dict[ArticleKey, SourceFile],
    known: dict[ArticleKey, StoredDigests],
) -> list[Claim]:
    """Articles stored without a key (by an older version) are claimed by the first file
    of this ingest whose name is theirs, as that version matched them; ``known`` gains
    the claimed articles."""
    claims: list[Claim] = []
    taken: set[int] = set()
    if not store.has_unclaimed():  # one probe instead of a query per file
        return claims
    for s in sources.values():
        for name, (article_id, digest) in store.unclaimed_digests(s.name).items():
            key = s.key_of(name)
            if article_id not in taken and key not in known[s.key]:
                known[s.key][key] = (article_id, digest)
                claims.append(Claim(key, article_id))
                taken.add(article_id)
    return claims
