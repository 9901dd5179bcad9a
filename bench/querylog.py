"""How much the question log adds to a question: ``QueryLog.record`` timed on a copy of
the seed corpus (docs/admin.md "The question log"). Prints figures; asserts nothing.

    .venv/bin/python bench/querylog.py [--rounds 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.corpus import Corpus, build, seeds_dir
from retrieval.querylog import QueryLog

QUESTION = "Which tourism year was launched in Kazakhstan in 2017?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "corpus.db"
        build(db, [seeds_dir()])
        with Corpus.open(db) as corpus, QueryLog(db) as qlog:
            answer = corpus.ask(QUESTION)
            asks = []
            for _ in range(50):
                started = time.perf_counter()
                corpus.ask(QUESTION)
                asks.append((time.perf_counter() - started) * 1000)
            qlog.record(answer, k=3, latency_ms=1, backend="sqlite", source="cli", user_id=0)
            records = []
            for i in range(args.rounds):
                started = time.perf_counter()
                qlog.record(answer, k=3, latency_ms=1, backend="sqlite", source="discord",
                            guild_id=1, channel_id=2, user_id=i)  # fmt: skip
                records.append((time.perf_counter() - started) * 1000)
    records.sort()
    p95 = records[int(len(records) * 0.95)]
    print(f"ask (seed corpus): median {statistics.median(asks):.2f} ms")
    print(
        f"record ({args.rounds} rows): median {statistics.median(records):.2f} ms, "
        f"p95 {p95:.2f} ms, max {records[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
