"""CPU time of the whole answer over a kept bench store, for two checkouts of the project.

    .venv/bin/python bench/answer_ab.py BEFORE AFTER DB QUESTIONS [--reranker R] [--passes N]

``BEFORE`` and ``AFTER`` are two source trees (``git worktree add /tmp/before REV``);
``DB`` and ``QUESTIONS`` are a bench work directory's ``bench.db`` and ``questions.json``
(``bench/bench.py --workdir``). Both trees are imported into this one process and every
question is answered by each in turn (the order alternating), top 3 with its JSON as
``corpusbot ask --json`` gives it, so both see the same load of a shared machine: on this
2-core machine separate runs of the same code differ by up to 2x, the two sides of one
run by a few percent. The JSON answers must be identical. Reports CPU
(``time.process_time``) a question for each side, each pass (pass 1 warms the caches).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np

PACKAGES = ("retrieval", "bot")


def _ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def load(src: str) -> tuple[ModuleType, ModuleType, dict[str, ModuleType]]:
    """``retrieval.corpus`` and ``bot.cli`` of the tree ``src``, and every module of ours
    they imported (put back in ``sys.modules`` before each call: code imports lazily)."""
    for name in [n for n in sys.modules if _ours(n)]:
        del sys.modules[name]
    sys.path.insert(0, src)
    try:
        corpus = importlib.import_module("retrieval.corpus")
        cli = importlib.import_module("bot.cli")
    finally:
        sys.path.remove(src)
    if not corpus.__file__.startswith(src):
        raise SystemExit(f"{src}: imported {corpus.__file__} instead")
    return corpus, cli, {n: m for n, m in sys.modules.items() if _ours(n)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("db")
    parser.add_argument("questions")
    parser.add_argument("--reranker", default="none")
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    questions = json.loads(Path(args.questions).read_text())
    sides = []
    for src in (args.before, args.after):
        corpus, cli, modules = load(src)
        opened = corpus.Corpus.open(args.db, create=False, reranker=args.reranker)
        sides.append((opened, cli.answer_json, modules))

    def ask(side: int, question: str) -> tuple[float, str]:
        opened, answer_json, modules = sides[side]
        sys.modules.update(modules)
        start = time.process_time()
        text = json.dumps(answer_json(opened.ask(question, k=3)), ensure_ascii=False)
        return time.process_time() - start, text

    differing = 0
    for p in range(1, args.passes + 1):
        cpu: list[list[float]] = [[], []]
        for i, question in enumerate(questions):
            texts = {}
            for side in (0, 1) if (i + p) % 2 else (1, 0):
                seconds, texts[side] = ask(side, question)
                cpu[side].append(seconds)
            differing += texts[0] != texts[1]
        before, after = (np.array(c) * 1e3 for c in cpu)
        print(
            f"pass {p}: before {before.mean():.2f} ms (p50 {np.percentile(before, 50):.2f}), "
            f"after {after.mean():.2f} ms (p50 {np.percentile(after, 50):.2f}); "
            f"after/before {after.mean() / before.mean():.3f}"
        )
    print(f"answers differing: {differing} of {len(questions) * args.passes}")


if __name__ == "__main__":
    main()
