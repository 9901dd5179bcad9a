"""An ingest worker's CPU a sentence (``retrieval.prepare.prepare``), with where it goes.

    OMP_NUM_THREADS=1 .venv/bin/python bench/workers_cpu.py FILE.jsonl...

Splits the files into parts as an ingest does, prepares the first 6 parts to warm the
worker's Vocabulary, then times the others one after the other in this process
(``time.process_time``): CPU µs a sentence, and the share of each stage (stages nest:
``match_ids`` holds ``find``, ``matches`` holds ``spans``). To compare two checkouts, run
each one's copy (or this file with ``PYTHONPATH`` set to the other tree) in turn, several
times: on a shared machine one run moves by 10% and more.
"""

from __future__ import annotations

import collections
import sys
import time
from collections.abc import Callable
from typing import Any

from retrieval import formats, prepare
from retrieval import segment as segment_module
from retrieval import text as text_module
from retrieval import vocabulary as vocabulary_module
from retrieval.discover import discover
from retrieval.vocabulary import Vocabulary

spent: collections.Counter[str] = collections.Counter()


def timed(owner: Any, name: str, label: str) -> None:
    """Count the CPU of ``owner.name`` under ``label`` (skipped where it does not exist,
    so one script times checkouts of different shapes)."""
    function = getattr(owner, name, None)
    if function is None:
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - start

    setattr(owner, name, wrapper)


def main(paths: list[str]) -> None:
    table = getattr(vocabulary_module, "_MatchTable", None) or vocabulary_module._MatchIds
    stages: list[tuple[Any, str, str]] = [
        (formats, "read_articles", "read_articles"),
        (text_module, "matches", "matches"),
        (text_module, "_fold", "fold"),
        (text_module, "_spans", "spans"),
        (Vocabulary, "_match_ids", "match_ids"),
        (table, "find", "find"),
        (Vocabulary, "_chunk", "chunk"),
    ]
    for owner, name, label in stages:
        timed(owner, name, label)
    sentences: Callable = segment_module.sentences
    prepare.segment = lambda text, spans: list(sentences(text, spans))  # a generator in main
    timed(prepare, "segment", "segment")
    sources = [s for s in discover(paths) if not isinstance(s, tuple)]
    tasks = prepare.tasks_for(sources, {s.key: {} for s in sources})
    vocabulary = Vocabulary()
    for task in tasks[:6]:
        prepare.prepare(task, vocabulary)
    spent.clear()
    start = time.process_time()
    n = sum(len(prepare.prepare(task, vocabulary).chunk.lengths) for task in tasks[6:])
    total = time.process_time() - start
    print(f"total {total:.3f} s CPU, {n} sentences: {total / n * 1e6:.1f} µs a sentence")
    for label, seconds in spent.most_common():
        print(f"{label:15s} {seconds:.3f} s {seconds / total:.0%}")


if __name__ == "__main__":
    main(sys.argv[1:])
