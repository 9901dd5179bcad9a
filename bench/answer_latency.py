"""The whole answer's latency on the seed corpus, as the bot and ``corpusbot ask`` pay it.

    .venv/bin/python bench/answer_latency.py [--reranker wordllama|none|minilm] [--rounds 3]

Asks every question of ../shared/eval/dev.jsonl and offtopic_dev.jsonl (or tests/data's
copies) through ``Corpus.ask`` on the seed corpus (``data/corpus.db``, built on first use):
the first round with the re-ranker's caches empty, then ``--rounds`` more. Prints p50, p95
and the maximum in milliseconds. The model's load and the English word list's (misspelt
words) are paid before the clock starts, as the bot pays them at start-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval import spelling  # noqa: E402
from retrieval.corpus import Corpus  # noqa: E402
from retrieval.settings import default_db_path  # noqa: E402

SETS = ("dev.jsonl", "offtopic_dev.jsonl")


def questions() -> list[str]:
    out = []
    for name in SETS:
        path = ROOT.parent / "shared" / "eval" / name
        if not path.exists():
            path = ROOT / "tests" / "data" / name
        if path.exists():
            out += [json.loads(line)["question"] for line in path.open(encoding="utf-8")]
    return out


def line(label: str, ms: list[float]) -> str:
    p50, p95 = np.percentile(ms, [50, 95])
    return f"{label:<22} n {len(ms):>4}  p50 {p50:6.1f}  p95 {p95:6.1f}  max {max(ms):6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reranker", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asked = questions()
    with Corpus.open(default_db_path(), reranker=args.reranker) as corpus:
        corpus.reranker  # noqa: B018 - load the model before timing
        spelling.english()  # and the word list, as the bot does at start-up
        rounds = []
        for _ in range(1 + args.rounds):
            ms = []
            for q in asked:
                started = time.perf_counter()
                corpus.ask(q)
                ms.append((time.perf_counter() - started) * 1e3)
            rounds.append(ms)
        print(f"re-ranker {corpus.reranker_name}, {len(asked)} questions")
    print(line("first round (cold)", rounds[0]))
    if args.rounds:
        print(line("later rounds", [m for r in rounds[1:] for m in r]))


if __name__ == "__main__":
    main()
