"""SQLite's side of an ingest: apply a :class:`~retrieval.plan.Plan` in one transaction.

What to add, replace, keep or remove is the plan's (:mod:`retrieval.plan`, shared with
the Xapian backend); this module only writes it: articles and sentences as rows, their
postings appended per term, the corpus totals refreshed. Nothing is committed until
everything is written, so an interrupted ingest (Ctrl-C, kill -9) leaves the previous
corpus intact (a first ingest into an empty store goes through a rollback journal, not
the WAL: :meth:`Store.rollback_journal_while_empty`).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from retrieval import text as textmod
from retrieval.articles import date_words
from retrieval.plan import IngestProgress, IngestReport, Plan, Write, planned
from retrieval.postings import PostingsBuilder, refresh_totals, remove_sentences
from retrieval.prepare import DEFAULT_SIZES, IngestSizes
from retrieval.store import Store

__all__ = ["IngestProgress", "IngestReport", "IngestSizes", "apply", "ingest", "remove"]


def ingest(
    store: Store,
    paths: Iterable[str | Path],
    *,
    progress: Callable[[IngestProgress], None] | None = None,
    workers: int | None = None,
    sizes: IngestSizes = DEFAULT_SIZES,
) -> IngestReport:
    """Ingest files and folders into ``store`` in one transaction (the rules:
    :mod:`retrieval.plan`)."""
    with (
        planned(store, paths, progress=progress, workers=workers, sizes=sizes) as plan,
        _gc_paused(),
    ):
        apply(store, plan, sizes)
    return plan.report


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while writing: the writer makes millions of objects
    (unpickled results, rows, postings), none in cycles, and each full collection walks
    them all (docs/decisions/015)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Removals:
    """Articles deleted during the transaction; their postings go in one pass at the end
    (each touched term is rewritten once, however many articles shared it)."""

    def __init__(self) -> None:
        self.ids: list[np.ndarray] = []
        self.terms: set[str] = set()
        self.sentences = 0
        self.tokens = 0

    def delete(self, store: Store, article_id: int) -> None:
        rows = store.delete_article(article_id)
        if rows:
            self.ids.append(np.array([r[0] for r in rows], np.int64))
            for r in rows:
                self.terms.update(textmod.tokenize(r[2]))
            self.sentences += len(rows)
            self.tokens += sum(r[1] for r in rows)

    def apply(self, store: Store) -> None:
        if self.ids:
            remove_sentences(store, np.sort(np.concatenate(self.ids)), self.terms)


def apply(store: Store, plan: Plan, sizes: IngestSizes = DEFAULT_SIZES) -> None:
    """Write ``plan``'s operations into ``store``, in one transaction."""
    parts = plan.parts()
    # The transaction starts with the first part, so the workers' start-up and first
    # file do not hold the write lock.
    first = next(parts, None)
    if first is None:
        return
    builder = PostingsBuilder()
    removals = _Removals()
    with (
        store.rollback_journal_while_empty(),
        # Started here, after the pool: a worker forked later would inherit the child's
        # input pipe, and the child would not see it close.
        store.synced_in_background() if plan.large else contextlib.nullcontext(),
        store.write(),
        store.names_indexed_at_end() as index_names,
        ThreadPoolExecutor(1) as background,
    ):
        store.claim_paths([(c.key, c.article_id) for c in plan.claims])
        totals = store.totals()
        next_id = totals.max_sentence_id + 1
        for part in itertools.chain([first], parts):
            for write in part.writes:
                if write.replaces is not None:  # before the insert: the new one takes its key
                    removals.delete(store, write.replaces)
            _insert(store, part.writes, next_id, part.chunk.lengths.tolist())
            builder.add_chunk(next_id, part.chunk)
            next_id += len(part.chunk.lengths)
            if builder.pending >= sizes.flush_postings:
                builder.flush(store)
        # From here the writer works alone. The postings are sorted (NumPy) in a thread
        # while SQLite indexes the names: neither holds the GIL.
        sorting = background.submit(builder.sort_pending)
        index_names()
        sorting.result()
        for removal in plan.removals():
            removals.delete(store, removal.article_id)
        removals.apply(store)
        builder.flush(store)
        refresh_totals(
            store,
            sentences=totals.sentences + builder.sentences - removals.sentences,
            tokens=totals.tokens + builder.tokens - removals.tokens,
            max_sentence_id=max(totals.max_sentence_id, next_id - 1),
        )


def _insert(store: Store, writes: list[Write], first_id: int, lengths: list[int]) -> None:
    """Insert the articles of one file (part) and their sentences, numbered from
    ``first_id`` in turn, with the part's sentence ``lengths``. One statement for the
    articles and one for the sentences, not one per article (docs/decisions/015)."""
    if not writes:
        return
    article_id = store.next_article_id()
    articles, sentences = [], []
    sentence_id = first_id
    for write in writes:
        item, at = write.article, write.at
        a, spans = item.article, item.spans
        n = len(spans)
        articles.append((article_id, write.key, item.digest, a, n, date_words(a.date)))
        text = a.text
        sentences += zip(
            range(sentence_id, sentence_id + n),
            itertools.repeat(article_id, n),
            range(n),
            *zip(*spans, strict=True),
            lengths[at : at + n],
            [text[s:e] for s, e in spans],
            strict=True,
        )
        article_id += 1
        sentence_id += n
    store.insert_articles(articles)
    store.insert_sentences(sentences)


def remove(store: Store, article_id: int) -> None:
    """Remove one article from the corpus, in its own transaction."""
    with store.write():
        totals = store.totals()
        removals = _Removals()
        removals.delete(store, article_id)
        removals.apply(store)
        refresh_totals(
            store,
            sentences=totals.sentences - removals.sentences,
            tokens=totals.tokens - removals.tokens,
            max_sentence_id=totals.max_sentence_id,
        )
