"""Files and folders → articles, sentences and postings, in one transaction per ingest.

Re-ingesting an unchanged article does nothing (content hash); a changed one replaces
its old version (old sentences and postings gone); a JSONL line that disappeared from
its file is removed. A file or line that cannot be read is reported and skipped while
the rest goes in. Nothing is committed until everything is written, so an interrupted
ingest (Ctrl-C, kill -9) leaves the previous corpus intact (a first ingest into an empty
store goes through a rollback journal, not the WAL: :meth:`Store.rollback_journal_while_empty`).

Large ingests use worker processes for the CPU-bound part (parsing, sentence
segmentation, tokenizing, counting terms: :func:`prepare`); the main process only
writes rows and postings, in file order, so sentence ids always ascend.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from retrieval import formats
from retrieval import text as textmod
from retrieval.articles import METADATA_FILE, ParsedArticle, metadata_problem
from retrieval.articles import load_metadata as read_metadata
from retrieval.errors import IngestError
from retrieval.formats import FileArticles
from retrieval.postings import LEN_MAX, Chunk, PostingsBuilder, refresh_totals, remove_sentences
from retrieval.segment import sentences as segment
from retrieval.store import Store
from retrieval.vocabulary import Vocabulary

SUFFIXES = formats.SUFFIXES


@dataclass(frozen=True)
class IngestSizes:
    """How an ingest splits its work. The defaults are the measured ones; tests pass small
    ones to split small inputs. Every setting writes the same store."""

    # Below this much input, worker processes cost more to start (~0.5 s) than they save.
    parallel_bytes: int = 4_000_000
    # A JSONL file larger than this is split at line boundaries so workers share it. Small
    # parts (~5,000 sentences) start the writer early and leave it little to write after
    # the workers finish.
    part_bytes: int = 1_000_000
    # Write postings out once this many are pending, which bounds memory on huge ingests
    # (~25 bytes a posting at the flush). Every flush after the first reads back and
    # rewrites the postings of the terms it touches: at 16M, a 1M-sentence corpus without
    # stopwords (21M postings) flushed twice, and the second flush cost a third of its
    # ingest. 1M sentences (14M-21M postings) flush once.
    flush_postings: int = 32_000_000


DEFAULT_SIZES = IngestSizes()


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
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


@dataclass(frozen=True)
class SourceFile:
    path: Path
    key: str  # the article's ``file``, its name for people: path relative to the folder given
    meta: dict
    ident: str  # the article's identity (``path`` in the store): the resolved absolute path

    def identity(self, key: str) -> str:
        """The identity of the article ``key`` (``key`` or ``key#id``) of this file."""
        return self.ident + key[len(self.key) :]

    def display(self, identity: str) -> str:
        """The inverse of :meth:`identity`."""
        return self.key + identity[len(self.ident) :]


def discover(paths: Iterable[str | Path]) -> Iterator[SourceFile | tuple[str, str]]:
    """Files to ingest under ``paths`` (folders recursively), or (path, reason) problems.

    An article is identified by its file's resolved absolute path (symbolic links and
    ``..`` resolved), plus ``#id`` for a JSONL line: ``c1/index.txt`` and ``c2/index.txt``
    are two articles, and ``dir/sub/x.txt`` named directly or through ``dir/`` is one.
    Its ``file``, the name people see, is the path relative to the folder given (the
    file name for a file given directly)."""
    folders: dict[Path, dict[str, dict]] = {}

    def source(file: Path, key: str) -> SourceFile | tuple[str, str]:
        try:
            if file.parent not in folders:  # metadata.json is read once per folder
                folders[file.parent] = read_metadata(file.parent)
        except IngestError as err:
            return str(file), str(err)
        meta = folders[file.parent].get(file.name, {})
        if problem := metadata_problem(meta):
            return str(file), problem
        return SourceFile(file, key, meta, _identity(file))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.name != METADATA_FILE and file.suffix.lower() in SUFFIXES:
                    yield source(file, file.relative_to(path).as_posix())
        elif path.is_file():
            if path.suffix.lower() not in SUFFIXES:
                yield str(path), f"unsupported file type (use {', '.join(SUFFIXES)})"
                continue
            yield source(path, path.name)
        else:
            yield str(path), "no such file or folder"


def _identity(file: Path) -> str:
    return file.resolve().as_posix()


# -- the workers' part: parse, segment, tokenize, count ----------------------------------


@dataclass
class PreparedArticle:
    digest: str
    article: ParsedArticle
    spans: list[tuple[int, int]]  # sentence offsets in article.text


@dataclass
class Prepared:
    """One file (or part of one) ready to write: its changed articles, their sentences
    counted into postings, and what was unchanged or broken."""

    source: SourceFile
    last_part: bool
    articles: list[PreparedArticle]
    chunk: Chunk  # postings of all the articles' sentences, in order
    unchanged: list[str]
    problems: list[tuple[str, str]]
    keys: set[str]  # article keys the file (part) still holds


Task = tuple[SourceFile, dict[str, str], tuple[int, int, int] | None, bool]


def prepare(task: Task, vocabulary: Vocabulary) -> Prepared:
    """Read, parse, segment and tokenize one file or part (runs in a worker process)."""
    source, known, part, last_part = task
    read = formats.read_articles(source.path, source.key, source.meta, known, part)
    articles = []
    sentences: list[str] = []
    for content, article in read.changed:
        spans = _indexable(list(segment(article.text, article.spans)), article, source, read)
        if not spans:
            read.problems.append((str(source.path), f"{article.file}: no sentences found"))
            read.keys.discard(article.file)
            continue
        text = article.text
        sentences += [text[s:e] for s, e in spans]
        articles.append(PreparedArticle(content, article, spans))
    return Prepared(
        source=source,
        last_part=last_part,
        articles=articles,
        chunk=vocabulary.count(sentences),
        unchanged=read.unchanged,
        problems=read.problems,
        keys=read.keys,
    )


def _indexable(
    spans: list[tuple[int, int]], article: ParsedArticle, source: SourceFile, read: FileArticles
) -> list[tuple[int, int]]:
    """``spans`` less any sentence with more terms than a posting can count (LEN_MAX):
    each is reported, and the rest of the article goes in."""
    if len(article.text) <= LEN_MAX:  # a term is at least one character
        return spans
    out = []
    for number, (start, end) in enumerate(spans, start=1):
        # A term is at least one character: only a sentence this long can be too long.
        n = len(textmod.tokenize(article.text[start:end])) if end - start > LEN_MAX else 0
        if n > LEN_MAX:
            read.problems.append(
                (
                    str(source.path),
                    f"{article.file}: sentence {number} left out ({n:,} terms; "
                    f"at most {LEN_MAX:,} can be indexed)",
                )
            )
            continue
        out.append((start, end))
    return out


# A pool worker's vocabulary, kept from task to task for the whole ingest.
_vocabulary: Vocabulary | None = None


def _start_worker() -> None:
    global _vocabulary
    _vocabulary = Vocabulary()  # a fresh one: a forked worker inherits the parent's state


def _prepare_in_worker(task: Task) -> Prepared:
    assert _vocabulary is not None, "the pool starts workers with _start_worker"
    return prepare(task, _vocabulary)


def _parts(source: SourceFile, part_bytes: int) -> list[tuple[int, int, int] | None]:
    """Split a large JSONL file at line boundaries: (start, end, first line number)."""
    if source.path.suffix.lower() not in formats.JSONL_SUFFIXES:
        return [None]
    try:
        if source.path.stat().st_size <= part_bytes:
            return [None]
        raw = source.path.read_bytes()
    except OSError:
        return [None]  # prepare() reports it
    parts, start, line = [], 0, 1
    while start < len(raw):
        cut = raw.find(b"\n", start + part_bytes)
        end = len(raw) if cut < 0 else cut + 1
        parts.append((start, end, line))
        line += raw.count(b"\n", start, end)
        start = end
    return parts


# -- the main process: one transaction ---------------------------------------------------


def ingest(
    store: Store,
    paths: Iterable[str | Path],
    *,
    progress: Callable[[IngestProgress], None] | None = None,
    workers: int | None = None,
    sizes: IngestSizes = DEFAULT_SIZES,
) -> IngestReport:
    """Ingest files and folders into ``store`` in one transaction.

    ``workers``: processes that parse and tokenize (default: one per CPU when the input
    is large enough to pay for starting them; 0 or 1: do it all in this process).
    ``sizes``: when to start workers, split a file, write postings out."""
    report = IngestReport()
    sources: dict[str, SourceFile] = {}
    for item in discover(paths):
        if isinstance(item, tuple):
            report.failed.append(item)
        else:
            sources.setdefault(item.ident, item)  # the same file named twice goes in once
    known = {ident: store.file_digests(ident) for ident in sources}
    claims = _claim_unmigrated(store, sources, known)
    tasks = tasks_for(sources.values(), known, sizes)
    # A large input gets worker processes (unless told how many) and its pages synced as
    # they are written (Store.synced_in_background); a small one's commit has little to
    # sync, and the processes would cost more than they save.
    large = sum(_size(s.path) for s in sources.values()) >= sizes.parallel_bytes
    if workers is None:
        workers = (os.cpu_count() or 1) if large else 0
    with prepared_in_order(tasks, sources.values(), workers, sizes) as results, _gc_paused():
        _write(store, results, len(sources), known, claims, report, progress, sizes, large)
    return report


def tasks_for(
    sources: Iterable[SourceFile],
    known: dict[str, dict[str, tuple[int, str]]],
    sizes: IngestSizes = DEFAULT_SIZES,
) -> list[Task]:
    """One task per file, or per part of a large JSONL file, with the stored digests
    (``known``: by each file's identity, the stored articles' digests)."""
    tasks: list[Task] = []
    for s in sources:
        digests = {s.display(k): d for k, (_, d) in known[s.ident].items()}
        parts = _parts(s, sizes.part_bytes)
        tasks += [(s, digests, p, i == len(parts) - 1) for i, p in enumerate(parts)]
    return tasks


@contextlib.contextmanager
def prepared_in_order(
    tasks: list[Task],
    sources: Iterable[SourceFile],
    workers: int | None,
    sizes: IngestSizes = DEFAULT_SIZES,
) -> Iterator[Iterable[Prepared]]:
    """The tasks' :class:`Prepared` results in task order: from worker processes (by
    default one per CPU when the input is large enough to pay for starting them), or
    here when ``workers`` is 0 or 1."""
    if workers is None:
        size = sum(_size(s.path) for s in sources)
        workers = (os.cpu_count() or 1) if size >= sizes.parallel_bytes else 0
    workers = min(workers, len(tasks))
    if workers <= 1:
        vocabulary = Vocabulary()
        yield (prepare(task, vocabulary) for task in tasks)
        return
    # fork is quick and needs no importable __main__, but forking a threaded process (the
    # bot) can copy a lock held by another thread: there, spawn fresh interpreters.
    method = "fork" if threading.active_count() == 1 and os.name == "posix" else "spawn"
    with multiprocessing.get_context(method).Pool(workers, _start_worker) as pool:
        yield pool.imap(_prepare_in_worker, tasks, chunksize=1)


def _claim_unmigrated(
    store: Store, sources: dict[str, SourceFile], known: dict[str, dict[str, tuple[int, str]]]
) -> list[tuple[str, int]]:
    """Rows migrated from schema v1 have no path yet: the first file of this ingest
    whose name (its ``file``) is theirs claims them, as v1 would have matched them.
    Returns (path, article id) to record; ``known`` gains the claimed rows."""
    claims: list[tuple[str, int]] = []
    taken: set[int] = set()
    if not store.has_unclaimed():  # one indexed probe instead of a query per file
        return claims
    for s in sources.values():
        for key, (article_id, digest) in store.unclaimed_digests(s.key).items():
            ident = s.identity(key)
            if article_id not in taken and ident not in known[s.ident]:
                known[s.ident][ident] = (article_id, digest)
                claims.append((ident, article_id))
                taken.add(article_id)
    return claims


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while writing: the writer makes millions of objects
    (unpickled results, rows, postings) and each of CPython's full collections walks
    them all, ~15% of the writer's time at 1M sentences; none of them form cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


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


def _write(
    store: Store,
    results: Iterable[Prepared],
    files_total: int,
    known: dict[str, dict[str, tuple[int, str]]],
    claims: list[tuple[str, int]],
    report: IngestReport,
    progress: Callable[[IngestProgress], None] | None,
    sizes: IngestSizes,
    sync_early: bool,
) -> None:
    results = iter(results)
    # The transaction starts with the first result, so the workers' start-up and first
    # file do not hold the write lock.
    first = next(results, None)
    if first is None:
        return
    builder = PostingsBuilder()
    removals = _Removals()
    seen: dict[str, set[str]] = {}  # file identity -> article identities it still holds
    files: dict[str, SourceFile] = {}
    troubled: set[str] = set()  # files with a problem: their missing lines are kept
    batch_keys: set[str] = set()
    files_done = articles_done = 0
    with (
        store.rollback_journal_while_empty(),
        # Started here, after the pool: a worker forked later would inherit the child's
        # input pipe, and the child would not see it close.
        store.synced_in_background() if sync_early else contextlib.nullcontext(),
        store.write(),
        store.names_indexed_at_end() as index_names,
        ThreadPoolExecutor(1) as background,
    ):
        store.claim_paths(claims)
        totals = store.totals()
        next_id = totals.max_sentence_id + 1
        for prepared in itertools.chain([first], results):
            source = prepared.source
            report.unchanged += prepared.unchanged
            report.failed += prepared.problems
            if prepared.problems:
                troubled.add(source.ident)
            seen.setdefault(source.ident, set()).update(map(source.identity, prepared.keys))
            files[source.ident] = source
            chunk, first_id, at = prepared.chunk, next_id, 0
            skipped = []
            kept: list[tuple[str, PreparedArticle, int]] = []  # (identity, article, at)
            for item in prepared.articles:
                key, n = item.article.file, len(item.spans)
                ident = source.identity(key)
                if ident in batch_keys:  # the same id in two parts of one JSONL file
                    report.failed.append((key, "duplicate article id in this ingest"))
                    skipped.append((at, at + n))
                    at += n
                    continue
                batch_keys.add(ident)
                old = known[source.ident].get(ident)
                if old is not None:  # before the insert: the new version takes its path
                    removals.delete(store, old[0])
                (report.replaced if old else report.added).append(key)
                kept.append((ident, item, at))
                at += n
            _insert(store, kept, next_id, chunk.lengths.tolist())
            next_id += sum(len(item.spans) for _, item, _ in kept)
            articles_done += len(kept)
            builder.add_chunk(first_id, chunk.without(skipped) if skipped else chunk)
            if builder.pending >= sizes.flush_postings:
                builder.flush(store)
            files_done += prepared.last_part
            if progress:
                progress(IngestProgress(files_done, files_total, articles_done, builder.sentences))
        # From here the writer works alone. The postings are sorted (NumPy) in a thread
        # while SQLite indexes the names: neither holds the GIL, and at 1M sentences
        # they take ~0.7 and ~0.5 s of the ~3 s left.
        sorting = background.submit(builder.sort_pending)
        index_names()
        sorting.result()
        for file_ident, keys in seen.items():
            if file_ident in troubled:
                continue
            for ident, (article_id, _) in known[file_ident].items():
                if ident not in keys and ident != file_ident:
                    removals.delete(store, article_id)
                    report.removed.append(files[file_ident].display(ident))
        removals.apply(store)
        builder.flush(store)
        report.sentences = builder.sentences
        refresh_totals(
            store,
            sentences=totals.sentences + builder.sentences - removals.sentences,
            tokens=totals.tokens + builder.tokens - removals.tokens,
            max_sentence_id=max(totals.max_sentence_id, next_id - 1),
        )


def _insert(
    store: Store, kept: list[tuple[str, PreparedArticle, int]], first_id: int, lengths: list[int]
) -> None:
    """Insert the articles of one file (part) and their sentences, numbered from
    ``first_id`` in turn: (identity, article, index of its first sentence in the part)
    each, and the part's sentence ``lengths``. One statement for the articles and one for
    the sentences: per article, the statements' own overhead was ~15% of the writer's
    inserts."""
    if not kept:
        return
    article_id = store.next_article_id()
    articles, sentences = [], []
    sentence_id = first_id
    for ident, item, at in kept:
        a, spans = item.article, item.spans
        n = len(spans)
        articles.append((article_id, ident, item.digest, a, n, date_words(a.date)))
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


@functools.lru_cache(maxsize=4096)  # articles share dates, and strftime costs ~30 µs
def date_words(iso: str | None) -> str:
    """Searchable forms of a date for naming articles: ``2017-06-07 June 2017 Jun 7``."""
    if not iso:
        return ""
    try:
        d = date.fromisoformat(iso[:10])  # strptime costs ~30 µs an article
    except ValueError:
        return iso
    return f"{iso} {d:%B} {d:%b} {d.year} {d.day} {d:%d/%m/%Y} {d:%m/%d/%Y}"


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
