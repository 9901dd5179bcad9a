"""The one entry point every front end uses (CLI, Discord bot, eval, bench).

``Corpus`` wraps a :class:`~retrieval.store.Store` and exposes plain, blocking,
thread-safe methods that return the dataclasses of :mod:`retrieval.models`. The bot
calls them through ``asyncio.to_thread``; the CLI calls them directly.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from retrieval import answer as answering
from retrieval import backend, rerank, sources
from retrieval import embed as embedding
from retrieval import ingest as ingesting
from retrieval.errors import CorpusError, StoreError
from retrieval.models import Answer, Article, CorpusStats, Sentence, SourceMatch
from retrieval.settings import DEFAULT_DB, Settings, is_default_db, seeds_dir
from retrieval.store import Store

if TYPE_CHECKING:
    from retrieval.backend import Backend

P = ParamSpec("P")
R = TypeVar("R")


def _store_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Turn SQLite failures (a corrupt page, a full disk, a lock held too long) into a
    one-line :class:`StoreError`, which every front end shows instead of a traceback."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as err:
            corpus = args[0]
            raise StoreError(f"database error in {corpus.path}: {err}") from err

    return wrapper


class Corpus:
    """A question-answering corpus backed by one SQLite file.

    ``reranker`` names the semantic re-ranker (:mod:`retrieval.rerank`; None means
    ``$CORPUSBOT_RERANKER`` or ``wordllama``) or is one already loaded. A name is checked
    at once (an unknown one raises :class:`CorpusError`) and loaded at the first question.
    """

    def __init__(
        self,
        store: Backend,
        *,
        reranker: str | rerank.Reranker | None = None,
    ):
        self.store = store
        self._reranker_lock = threading.Lock()
        if reranker is None or isinstance(reranker, str):
            self.reranker_name = rerank.resolve(reranker)
            self._reranker: rerank.Reranker | None = None
            self._reranker_loaded = self.reranker_name == "none"
        else:
            self.reranker_name = reranker.name
            self._reranker, self._reranker_loaded = reranker, True

    @property
    def reranker(self) -> rerank.Reranker | None:
        """The loaded re-ranker (loaded on first use), or None for lexical evidence only."""
        with self._reranker_lock:
            if not self._reranker_loaded:
                # Stored (MiniLM) vectors: a backend without any (Xapian) gives none, and
                # every sentence gets the fall-back's figures.
                self._reranker = rerank.load(self.reranker_name, store=self.store)
                self._reranker_loaded = True
            return self._reranker

    @property
    def path(self) -> Path | str:
        return self.store.path

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        create: bool | None = None,
        reranker: str | rerank.Reranker | None = None,
        settings: Settings | None = None,
    ) -> Corpus:
        """Open the SQLite file at ``path``; without one, the corpus ``settings`` choose
        (default: :meth:`Settings.load` from the environment): the Xapian shards, or
        the SQLite file at ``settings.db_path`` ($CORPUSBOT_DB or :data:`DEFAULT_DB`).
        ``reranker`` (default: the settings') names the re-ranker.

        A missing database is built from ``seeds/`` (into a temporary file first, so an
        interrupted build leaves nothing half-made) when ``create`` is true, or, when it
        is None, only at :data:`DEFAULT_DB`: elsewhere a missing file is more likely a
        mistyped path than a wish for the seed corpus. Otherwise a missing, corrupt or
        foreign file raises :class:`StoreError` with a one-line message.
        """
        if path is None:
            settings = settings or Settings.load()
            if reranker is None:
                reranker = settings.reranker
            if settings.backend == "xapian":
                return cls.shards(settings.xapian_shards, reranker=reranker)
            path = settings.db_path
        path = Path(path)
        if reranker is None or isinstance(reranker, str):
            rerank.resolve(reranker)  # a wrong name fails before any work
        if create is None:
            create = is_default_db(path)
        if not path.exists() and not create:
            raise StoreError(
                f"no database at {path}: create one with `corpusbot --db {path} ingest "
                f"FOLDER` (only {DEFAULT_DB} is built from the seed articles on first use)"
            )
        try:
            if not path.exists():
                build(path, [seeds_dir()])
            return cls(Store.open(path), reranker=reranker)
        except (sqlite3.Error, OSError) as err:
            raise StoreError(f"cannot open {path}: {err}") from err

    @classmethod
    def shards(
        cls, shards: Sequence[backend.XapianShard], *, reranker: str | rerank.Reranker | None = None
    ) -> Corpus:
        """The corpus on remote Xapian shards (docs/sharding.md)."""
        from retrieval.xapian_backend import XapianStore

        return cls(XapianStore(shards), reranker=reranker)

    @classmethod
    def create(cls, path: str | Path, *, reranker: str | rerank.Reranker | None = None) -> Corpus:
        """A new, empty corpus at ``path``."""
        return cls(Store.create(path), reranker=reranker)

    @_store_errors
    def ask(
        self,
        question: str,
        *,
        k: int = answering.DEFAULT_K,
        offset: int = 0,
        cut: bool = True,
        article_id: int | None = None,
    ) -> Answer:
        """Answer a question: at most ``k`` quotes after ``offset`` (``More`` pages on),
        those that pass the relevance cut (``cut=False``: the plain ranked list); with
        ``article_id``, from that article only (an unknown id: :class:`CorpusError`)."""
        reranker = self.reranker  # loaded (once) before the snapshot opens
        with self.store.read():  # every read of one question from one snapshot
            within = None
            if article_id is not None:
                within = self.store.article(article_id)
                if within is None:
                    raise CorpusError(f"no article with id {article_id}")
            return answering.answer(
                self.store, question, k=k, offset=offset, reranker=reranker, cut=cut, within=within
            )

    @_store_errors
    def context(self, sentence_id: int, *, before: int = 1, after: int = 1) -> list[Sentence]:
        """The sentence with its neighbours in the same article, in order."""
        with self.store.read():
            found = self.store.sentences([sentence_id])
            if not found:
                return []
            return self.store.neighbours(found[0], max(0, before), max(0, after))

    @_store_errors
    def article_text(self, article_id: int) -> str:
        """The article exactly as stored (complete, boilerplate included)."""
        text = self.store.article_text(article_id)
        if text is None:
            raise CorpusError(f"no article with id {article_id}")
        return text

    @_store_errors
    def find_source(self, name: str) -> SourceMatch:
        """Find an article by id, file name, or words of its title/outlet/date/topic."""
        with self.store.read():  # names, fields and topic from one snapshot
            return sources.find(self.store, name)

    @_store_errors
    def suggest(self, text: str, *, limit: int = 25) -> list[Article]:
        """Articles best matching ``text`` as typed so far (autocomplete); first ones if empty."""
        with self.store.read():
            return sources.suggest(self.store, text, limit=limit)

    @_store_errors
    def contexts(
        self, sentence_ids: Sequence[int], *, before: int = 1, after: int = 1
    ) -> list[list[Sentence]]:
        """The passages around ``sentence_ids``: each sentence with its neighbours in its
        article, windows that overlap or touch merged into one, in the order of the first
        sentence each holds."""
        with self.store.read():
            found = {s.id: s for s in self.store.sentences(list(dict.fromkeys(sentence_ids)))}
            windows = [
                self.store.neighbours(found[i], max(0, before), max(0, after))
                for i in dict.fromkeys(sentence_ids)
                if i in found
            ]
        return merge_passages(windows)

    @_store_errors
    def article_body(self, article_id: int) -> str:
        """The article's searchable text: its sentences without the navigation, repeated
        headlines, captions and footers around them; a paragraph break wherever the stored
        text has a line break between two sentences. Empty if nothing in it is searchable."""
        with self.store.read():
            text = self.store.article_text(article_id)
            if text is None:
                raise CorpusError(f"no article with id {article_id}")
            sentences = self.store.article_sentences(article_id)
        parts: list[str] = []
        for previous, sentence in zip([None, *sentences], sentences, strict=False):
            if previous is not None:
                parts.append("\n\n" if "\n" in text[previous.end : sentence.start] else " ")
            parts.append(sentence.text)
        return "".join(parts)

    @_store_errors
    def articles(self, ids: list[int] | None = None) -> list[Article]:
        """Every article, or those with the given ``ids`` (in that order)."""
        return self.store.articles(ids)

    @_store_errors
    def stats(self) -> CorpusStats:
        with self.store.read():  # the counts and totals of one corpus, not of two
            articles, sentences, terms = self.store.counts()
            totals = self.store.totals()
        return CorpusStats(
            articles=articles,
            sentences=sentences,
            terms=terms,
            avg_sentence_length=totals.tokens / totals.sentences if totals.sentences else 0.0,
            db_bytes=self.store.size_bytes(),
            reranker=self.reranker_name,
            reranker_ready=self._reranker_ready(),
            vectors=self.store.vector_count("minilm"),
        )

    def _reranker_ready(self) -> bool:
        """Whether answers get the chosen re-ranker (known without loading it first)."""
        with self._reranker_lock:
            if not self._reranker_loaded:
                return rerank.available(self.reranker_name)
            return self._reranker is not None or self.reranker_name == "none"

    @_store_errors
    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        progress: Callable[[ingesting.IngestProgress], None] | None = None,
        workers: int | None = None,
    ) -> ingesting.IngestReport:
        """Add or update the articles in ``paths`` (files or folders), one transaction."""
        return self.store.ingest(paths, progress=progress, workers=workers)

    @_store_errors
    def embed(
        self,
        *,
        progress: Callable[[embedding.EmbedProgress], None] | None = None,
        batch: int | None = None,
    ) -> embedding.EmbedReport:
        """Store a MiniLM vector for each sentence without one (resumable, incremental)."""
        return embedding.embed(self.store, progress=progress, batch=batch)

    @_store_errors
    def remove(self, article_id: int) -> None:
        if self.store.article(article_id) is None:
            raise CorpusError(f"no article with id {article_id}")
        self.store.remove(article_id)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge_passages(windows: Iterable[Sequence[Sentence]]) -> list[list[Sentence]]:
    """Windows of sentences merged where they overlap or touch in the same article, each
    passage in article order, passages in the order of their first window."""
    merged: list[list[Sentence]] = []
    for window in windows:
        if not window:
            continue
        passage = list(window)
        kept: list[list[Sentence]] = []
        at: int | None = None
        for other in merged:  # earlier passages never touch each other
            if _touch(other, passage):
                by_position = {s.position: s for s in (*other, *passage)}
                passage = [by_position[p] for p in sorted(by_position)]
                at = len(kept) if at is None else at
            else:
                kept.append(other)
        kept.insert(len(kept) if at is None else at, passage)
        merged = kept
    return merged


def _touch(a: Sequence[Sentence], b: Sequence[Sentence]) -> bool:
    return (
        a[0].article_id == b[0].article_id
        and a[0].position <= b[-1].position + 1
        and b[0].position <= a[-1].position + 1
    )


def build(path: Path, folders: Sequence[Path]) -> ingesting.IngestReport:
    """Build a new store at ``path`` from ``folders``, atomically (temp file + rename)."""
    missing = [str(f) for f in folders if not Path(f).exists()]
    if missing:
        raise StoreError(f"no database at {path}, and no corpus to build it from ({missing[0]})")
    tmp = path.with_name(path.name + ".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
    store = Store.create(tmp)
    try:
        report = ingesting.ingest(store, folders)
    finally:
        store.checkpoint()
        store.close()
    os.replace(tmp, path)
    return report
