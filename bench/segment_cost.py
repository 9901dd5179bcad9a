"""CPU time of segmenting real paragraphs (``retrieval.segment.sentences``), best of 3.

    .venv/bin/python bench/segment_cost.py ../shared/eval/covidqa/covidqa-public.json \\
        ../shared/eval/squad2/dev-v2.0-public.json ../shared/eval/scifact

A SQuAD-format file gives its contexts cut at blank lines; a BEIR folder its abstracts
(``corpus.jsonl``). To compare two checkouts, run this file with ``PYTHONPATH`` set to
each tree in turn: on a shared machine one run moves by 10% and more.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from retrieval.segment import sentences


def paragraphs(path: Path) -> list[str]:
    if path.is_dir():
        with (path / "corpus.jsonl").open(encoding="utf-8") as f:
            return [json.loads(line)["text"] for line in f if line.strip()]
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    contexts = [p["context"] for article in data for p in article["paragraphs"]]
    return [block for c in contexts for block in c.split("\n\n") if block.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", type=Path)
    args = parser.parse_args()
    blocks = [block for path in args.sets for block in paragraphs(path)]
    best, count = float("inf"), 0
    for _ in range(3):
        start = time.process_time()
        count = sum(len(sentences(block, [(0, len(block))])) for block in blocks)
        best = min(best, time.process_time() - start)
    chars = sum(map(len, blocks))
    print(f"{len(blocks)} paragraphs, {chars / 1e6:.1f} M characters, {count} sentences")
    print(f"segmenting: {best:.2f} s CPU (best of 3), {best / count * 1e6:.1f} µs a sentence")


if __name__ == "__main__":
    main()
