"""Re-ranker costs: model load time, embedding speed, similarities for 100 candidates.

The bulk speed is what ``corpusbot embed`` gets; the similarities are WordLlama's at query
time (sentences, windows, soft term coverage), and the question alone is what a MiniLM
answer embeds.

    python bench/rerank.py [--reranker wordllama|minilm] [--texts N]

Texts are sentences from ../shared/eval/scifact/corpus_sentences.jsonl (or the seed
corpus when that is absent). The machine is shared: repeat runs and read medians.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import numpy as np

from retrieval import rerank
from retrieval.models import Sentence

SCIFACT = Path(__file__).resolve().parents[2] / "shared/eval/scifact/corpus_sentences.jsonl"
SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def texts(limit: int) -> list[str]:
    if SCIFACT.exists():
        with SCIFACT.open(encoding="utf-8") as f:
            return [json.loads(line)["text"] for _, line in zip(range(limit), f, strict=False)]
    return [p for f in sorted(SEEDS.iterdir()) for p in f.read_text().split("\n") if p.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reranker", choices=rerank.NAMES[1:], default="wordllama")
    parser.add_argument("--texts", type=int, default=2000, help="sentences to embed in bulk")
    args = parser.parse_args()

    started = time.perf_counter()
    encode = rerank.encoder(args.reranker)
    print(f"{args.reranker}: load {time.perf_counter() - started:.2f} s (imports included)")

    pool = texts(args.texts)
    started = time.perf_counter()
    for i in range(0, len(pool), 256):
        encode(pool[i : i + 256])
    seconds = time.perf_counter() - started
    print(f"bulk: {len(pool)} sentences in {seconds:.1f} s = {len(pool) / seconds:,.0f}/s")

    rng = random.Random(1)
    question = "Which cells produce insulin in the pancreas?"
    keywords = ["cells", "produce", "insulin", "pancreas"]
    reranker = rerank.load("wordllama")  # what answers use at query time
    pooled, one = [], []
    for _ in range(30):
        sample = [Sentence(i, 1, i, t, 0, len(t)) for i, t in enumerate(rng.sample(pool, 100))]
        windows = np.array(
            [[j if 0 <= j < 100 else -1 for j in (i - 1, i, i + 1)] for i in range(100)]
        )
        t = time.perf_counter()
        reranker.similarities(question, keywords, sample, windows)
        pooled.append(time.perf_counter() - t)
        t = time.perf_counter()
        encode([question])
        one.append(time.perf_counter() - t)
    ms = lambda xs: f"median {statistics.median(xs) * 1e3:.1f} ms, max {max(xs) * 1e3:.1f} ms"  # noqa: E731
    print(f"wordllama similarities of 100 candidates and their windows: {ms(pooled)}")
    print(f"{args.reranker}: the question alone: {ms(one)}")


if __name__ == "__main__":
    main()
