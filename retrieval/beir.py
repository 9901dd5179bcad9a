"""Check the engine against a published BM25 table: BEIR SciFact, nDCG@10.

The documents are indexed with the project's own tokenizer (:func:`retrieval.text.tokenize`),
postings builder and SQLite store, and ranked with the same exact BM25Okapi
(:func:`retrieval.rank.rank`) that answers questions; nDCG@10 comes from
pytrec-eval-terrier (trec_eval's measure), not from code of ours. Two unit choices:

- ``flat``: one unit per abstract, title and text as one field (Anserini's "flat" index,
  published 0.6789; BEIR paper 0.665).
- ``maxsent``: one unit per abstract sentence, title + sentence, and an abstract scores
  as its best sentence -- the way the bot ranks sentences (no published figure; the data
  README reproduces about 0.665).

Run ``make scifact`` or ``python -m retrieval.beir [--data DIR] [--units flat maxsent]``.
SciFact: Wadden et al. 2020 (claims CC BY 4.0, abstracts ODC-By 1.0, from S2ORC);
BEIR: Thakur et al. 2021.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval.postings import PostingsBuilder
from retrieval.rank import rank
from retrieval.settings import PROJECT_ROOT
from retrieval.store import Store
from retrieval.text import tokenize
from retrieval.vocabulary import Vocabulary

DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "eval" / "scifact"
PUBLISHED = {
    "BEIR paper (Table 2)": 0.665,
    "Anserini multifield": 0.6647,
    "Anserini flat": 0.6789,
}
DEPTH = 100  # documents kept per query (the BEIR / Anserini run depth is 1000; nDCG@10
# and recall@100 need no more than 100)


@dataclass(frozen=True)
class Result:
    units: str
    ndcg_10: float
    recall_100: float
    queries: int
    documents: int
    seconds: float


def read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return qrels


class UnitIndex:
    """Retrieval units (id → text) in a throw-away store, through the engine's builder."""

    def __init__(self, path: Path, units: Iterable[tuple[str, str]]):
        self.store = Store.create(path)
        self.keys: list[str] = [""]  # sentence ids start at 1
        texts = []
        for key, text in units:
            self.keys.append(key)
            texts.append(text)
        # Counted the way an ingest worker counts a file.
        builder = PostingsBuilder()
        builder.add_chunk(1, Vocabulary().count(texts))
        with self.store.write():
            builder.merge_into(self.store, len(texts))

    def search(self, query: str, depth: int) -> list[tuple[str, float]]:
        ranked = rank(self.store, tokenize(query), depth)
        return [
            (self.keys[i], s)
            for i, s in zip(ranked.ids.tolist(), ranked.scores.tolist(), strict=True)
        ]

    def close(self) -> None:
        self.store.close()


def units_of(data: Path, mode: str, keep: set[str] | None) -> Iterator[tuple[str, str]]:
    """(unit id, text) pairs; a unit id is ``doc`` or ``doc\\tsentence``."""
    if mode == "flat":
        for d in read_jsonl(data / "corpus.jsonl"):
            if keep is None or d["_id"] in keep:
                yield d["_id"], f"{d['title']} {d['text']}"
    elif mode == "maxsent":
        for s in read_jsonl(data / "corpus_sentences.jsonl"):
            if keep is None or s["doc_id"] in keep:
                yield f"{s['doc_id']}\t{s['_id']}", f"{s['title']} {s['text']}"
    else:
        raise ValueError(f"unknown unit mode {mode!r}")


def run(
    data: Path = DEFAULT_DATA,
    mode: str = "flat",
    *,
    split: str = "test",
    docs: set[str] | None = None,
    queries: set[str] | None = None,
) -> Result:
    """Index SciFact (or the subset ``docs``), search the qrels' queries, score them."""
    started = time.perf_counter()
    qrels = read_qrels(data / "qrels" / f"{split}.tsv")
    if queries is not None:
        qrels = {q: r for q, r in qrels.items() if q in queries}
    texts = {q["_id"]: q["text"] for q in read_jsonl(data / "queries.jsonl") if q["_id"] in qrels}
    run_: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        index = UnitIndex(Path(tmp) / "scifact.db", units_of(data, mode, docs))
        n_docs = len({k.split("\t")[0] for k in index.keys[1:]})
        try:
            for qid, text in texts.items():
                best: dict[str, float] = {}
                # maxsent: fetch more sentences so DEPTH distinct documents remain
                for key, score in index.search(text, DEPTH * (10 if mode == "maxsent" else 1)):
                    doc = key.split("\t")[0]
                    if doc not in best:  # results come best first
                        best[doc] = score
                run_[qid] = dict(list(best.items())[:DEPTH])
        finally:
            index.close()
    try:
        import pytrec_eval  # a development dependency: `pip install corpusbot[dev]`
    except ImportError as err:
        raise SystemExit(
            "retrieval.beir needs pytrec-eval-terrier: pip install 'corpusbot[dev]'"
        ) from err
    evaluator = pytrec_eval.RelevanceEvaluator(
        {q: qrels[q] for q in texts}, {"ndcg_cut.10", "recall.100"}
    )
    per_query = evaluator.evaluate(run_)
    n = len(per_query) or 1
    return Result(
        units=mode,
        ndcg_10=sum(m["ndcg_cut_10"] for m in per_query.values()) / n,
        recall_100=sum(m["recall_100"] for m in per_query.values()) / n,
        queries=len(per_query),
        documents=n_docs,
        seconds=time.perf_counter() - started,
    )


def table(results: list[Result]) -> str:
    published = ", ".join(f"{name} {v:.4f}" for name, v in PUBLISHED.items())
    lines = [
        "SciFact (BEIR), test split: exact BM25 (k1=1.5, b=0.75), this project's tokenizer",
        f"{'units':<10}{'queries':>8}{'docs':>7}{'nDCG@10':>9}{'R@100':>8}{'seconds':>9}",
    ]
    for r in results:
        lines.append(
            f"{r.units:<10}{r.queries:>8}{r.documents:>7}{r.ndcg_10:>9.4f}"
            f"{r.recall_100:>8.4f}{r.seconds:>9.1f}"
        )
    lines.append(f"published BM25 nDCG@10: {published}; Anserini flat R@100 0.9253")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retrieval.beir", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SciFact folder")
    parser.add_argument(
        "--units", nargs="+", default=["flat", "maxsent"], choices=["flat", "maxsent"]
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (args.data / "corpus.jsonl").exists():
        print(f"no SciFact data in {args.data} (see shared/eval/README.md)", file=sys.stderr)
        return 1
    results = [run(args.data, mode) for mode in args.units]
    if args.json:
        print(json.dumps({"published": PUBLISHED, "results": [r.__dict__ for r in results]}))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
