"""The CPU-bound part of an ingest: read, parse, segment, tokenize and count each file.

Runs in worker processes for large inputs (:func:`prepared_in_order`), here otherwise;
either way the results come back in file order, so an applier numbers sentences in
ascending order. Nothing here knows which backend the results go to.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval import formats
from retrieval import text as textmod
from retrieval.articles import ParsedArticle
from retrieval.discover import ArticleKey, SourceFile
from retrieval.formats import FileArticles
from retrieval.postings import LEN_MAX, Chunk
from retrieval.segment import sentences as segment
from retrieval.vocabulary import Vocabulary


@dataclass(frozen=True)
class IngestSizes:
    """How an ingest splits its work. The defaults are the measured ones
    (docs/decisions/015); tests pass small ones to split small inputs. Every setting writes
    the same store."""

    # Below this much input, worker processes cost more to start than they save.
    parallel_bytes: int = 4_000_000
    # A JSONL file larger than this is split at line boundaries so workers share it;
    # small parts start the writer early and leave it little to write at the end.
    part_bytes: int = 1_000_000
    # Write postings out once this many are pending, which bounds memory on huge ingests;
    # each flush after the first rewrites the postings of the terms it touches.
    flush_postings: int = 32_000_000


DEFAULT_SIZES = IngestSizes()

# Stored articles of one file: {article key: (article id, content digest)}.
StoredDigests = dict[ArticleKey, tuple[int, str]]


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
    unchanged: list[str]  # article names
    problems: list[tuple[str, str]]
    names: set[str]  # names of the articles the file (part) still holds


Task = tuple[SourceFile, dict[str, str], tuple[int, int, int] | None, bool]


def prepare(task: Task, vocabulary: Vocabulary) -> Prepared:
    """Read, parse, segment and tokenize one file or part (runs in a worker process)."""
    source, known, part, last_part = task
    read = formats.read_articles(source.path, source.name, source.meta, known, part)
    articles = []
    sentences: list[str] = []
    for content, article in read.changed:
        spans = _indexable(list(segment(article.text, article.spans)), article, source, read)
        if not spans:
            read.problems.append((str(source.path), f"{article.file}: no sentences found"))
            read.names.discard(article.file)
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
        names=read.names,
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


def tasks_for(
    sources: Iterable[SourceFile],
    known: dict[ArticleKey, StoredDigests],
    sizes: IngestSizes = DEFAULT_SIZES,
) -> list[Task]:
    """One task per file, or per part of a large JSONL file, with the stored digests
    (``known``: by each file's key, its stored articles)."""
    tasks: list[Task] = []
    for s in sources:
        digests = {s.name_of(k): d for k, (_, d) in known[s.key].items()}
        parts = _parts(s, sizes.part_bytes)
        tasks += [(s, digests, p, i == len(parts) - 1) for i, p in enumerate(parts)]
    return tasks


def input_size(sources: Iterable[SourceFile]) -> int:
    return sum(_size(s.path) for s in sources)


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
        workers = (os.cpu_count() or 1) if input_size(sources) >= sizes.parallel_bytes else 0
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


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
