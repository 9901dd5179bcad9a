"""How the relevance cut's ``max_gap`` was chosen: hit over the shown quotes, mean quotes
shown and the share of them that answer, for a grid of gaps, on every SQuAD-format set.

    .venv/bin/python bench/cut_grid.py ../shared/eval/squad2/dev-v2.0-public.json \\
        ../shared/eval/covidqa/covidqa-public.json [--reranker none] [--gaps 0,0.5,1,1.25]

Each set's corpus is built with the normal ingest; each answerable question's pool comes
from the real ``rerank()`` and its quotes from the real ``answer._quotes`` (top 3), so the
figures are what ``corpusbot eval`` reports for that gap. For each set it prints the grid
and the smallest gap that costs at most 2 points of hit (docs/decisions/018-relevance-cut.md).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cli import squad_corpus
from retrieval import answer as A
from retrieval import evaluate as ev
from retrieval import question as qa
from retrieval.corpus import Corpus

DEFAULT_GAPS = "0,0.25,0.5,0.55,0.6,0.65,0.7,0.75,1,1.05,1.1,1.15,1.2,1.25,1.3,1.4,1.5,2,inf"


def grid(corpus: Corpus, questions: list[ev.GoldQuestion], gaps: list[float]) -> list[tuple]:
    """(gap, hit over shown, mean quotes, share answering) for each gap."""
    pools = []
    for q in questions:
        terms = qa.query_terms(q.question)
        pool = A.build_pool(corpus.store, q.question, terms, A.DEFAULT_K + 1, corpus.reranker)
        files = {
            a.id: a.file
            for a in corpus.store.articles(sorted({s.article_id for s in pool.sentences}))
        }
        pools.append((q, pool, files))
    rows = []
    for gap in gaps:
        hit = quotes = answering = 0
        for q, pool, files in pools:
            shown = A._quotes(pool, A.DEFAULT_K, gap) if pool.sentences else []
            good = [ev.is_hit(x.sentence, files[x.sentence.article_id], q) for x in shown]
            hit += any(good)
            quotes += len(shown)
            answering += sum(good)
        n = len(pools)
        rows.append((gap, hit / n, quotes / n, answering / max(quotes, 1)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", nargs="+", type=Path)
    parser.add_argument("--reranker", default="wordllama")
    parser.add_argument("--gaps", default=DEFAULT_GAPS)
    args = parser.parse_args()
    gaps = [float(g) for g in args.gaps.split(",")]
    for path in args.squad:
        squad = ev.load_squad(path)
        with squad_corpus(squad, reranker=args.reranker) as corpus:  # as `corpusbot eval` builds it
            rows = grid(corpus, [q for q in squad.questions if q.answerable], gaps)
        print(f"{path.name} ({args.reranker}): gap  hit over shown  quotes  answering")
        for gap, hit, quotes, answering in rows:
            print(f"  {gap:6}  {hit:.3f}  {quotes:.2f}  {answering:.3f}")
        uncut = next(r[1] for r in rows if math.isinf(r[0]))
        pick = min((r[0] for r in rows if r[1] >= uncut - 0.02 - 1e-9), default=math.inf)
        print(f"  smallest gap within 2 points of the uncut hit ({uncut:.3f}): {pick}")


if __name__ == "__main__":
    main()
