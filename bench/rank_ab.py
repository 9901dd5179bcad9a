"""CPU time of ``rank()`` over a kept bench store, for one or more versions of rank.py.

    .venv/bin/python bench/rank_ab.py DB QUESTIONS PASSES RANK_PY [RANK_PY ...]

``DB`` and ``QUESTIONS`` are a bench work directory's ``bench.db`` and ``questions.json``
(``bench/bench.py --workdir``); each ``RANK_PY`` is a copy of ``retrieval/rank.py``, as
``git show REV:retrieval/rank.py > /tmp/rank_REV.py`` gives. With several, every question
is ranked by each version in turn (the order alternating), so all see the same load of a
shared machine; each version keeps its own term cache, cold at pass 1. The top 3 (ids and
scores) must be identical across versions. Reports CPU (``time.process_time``) a question,
top 3: each pass, and the per-question median of passes 2 on.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from retrieval.corpus import Corpus
from retrieval.text import tokenize


def load(path: str, name: str) -> ModuleType:
    """``path`` imported as module ``name`` (beside the installed ``retrieval.rank``)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def summary(ms: np.ndarray) -> str:
    return (
        f"mean {ms.mean():.2f} p50 {np.percentile(ms, 50):.2f} "
        f"p99 {np.percentile(ms, 99):.2f} max {ms.max():.1f} ms"
    )


def main() -> None:
    db, questions, passes, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    versions = [load(f, f"rank_version_{i}") for i, f in enumerate(files)]
    store = Corpus.open(db, reranker="none").store
    queries = [tokenize(q) for q in json.loads(Path(questions).read_text())]
    for version in versions:  # the store's own first reads, outside the timing
        version.rank(store, queries[0], 3)
    cpu = np.zeros((len(versions), passes, len(queries)))
    for p in range(passes):
        for i, terms in enumerate(queries):
            order = list(range(len(versions)))
            if (i + p) % 2:
                order.reverse()
            top = {}
            for v in order:
                start = time.process_time()
                with store.read():
                    ranked = versions[v].rank(store, terms, 3)
                cpu[v, p, i] = (time.process_time() - start) * 1e3
                top[v] = (ranked.ids.tolist(), ranked.scores.tolist())
            if any(found != top[0] for found in top.values()):
                raise SystemExit(f"question {i}: the versions' top 3 differ: {top}")
    for v, path in enumerate(files):
        print(path)
        for p in range(passes):
            print(f"  pass {p + 1}: {summary(cpu[v, p])}")
        if passes > 2:
            print(f"  passes 2-{passes}, per-question median: {summary(np.median(cpu[v, 1:], 0))}")
    if len(files) > 1:
        print(f"top 3 identical across versions: {len(queries)}/{len(queries)}, every pass")


if __name__ == "__main__":
    main()
