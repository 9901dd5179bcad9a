"""How the relevance cut's ``max_gap`` was chosen: hit over the shown quotes, mean quotes
shown and the share of them that answer, for a grid of gaps, on every SQuAD-format set.

    .venv/bin/python bench/cut_grid.py ../shared/eval/squad2/dev-v2.0-public.json \\
        ../shared/eval/covidqa/covidqa-public.json [--reranker none] [--gaps 0,0.5,1,1.25]

Each set's corpus is built with the normal ingest; each answerable question's pool comes
from the real ``rerank()`` and its quotes from the real ``answer._quotes`` (top 3), so the
figures are what ``corpusbot eval`` reports for that gap. For each set it prints the grid
and the smallest gap that costs at most 2 points of hit (docs/decisions/018-relevance-cut.md).

``--folds W0 W1 ...`` (``cross`` only) scores each set's questions with cross-encoder
weights that never saw their article: the set's articles are split in as many folds as
weights are given (sorted by name, every N-th from the K-th, as ``bench/cross_encoder.py
--hold-out NAME K N`` splits them for training), the questions of fold K are answered with
weights file W_K, and the grid pools every fold. The corpus is still the whole set.
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
from retrieval import rerank
from retrieval.corpus import Corpus

DEFAULT_GAPS = "0,0.25,0.5,0.55,0.6,0.65,0.7,0.75,1,1.05,1.1,1.15,1.2,1.25,1.3,1.4,1.5,2,inf"


def held_out(articles: list[str], k: int, n: int) -> list[bool]:
    """Whether each question's article is in fold ``k`` of ``n`` (articles sorted by name,
    every ``n``-th from the ``k``-th)."""
    order = {a: i for i, a in enumerate(sorted(set(articles)))}
    return [order[a] % n == k for a in articles]


def pools(corpus: Corpus, questions: list[ev.GoldQuestion]) -> list[tuple]:
    """Each question with its pool from the real ``build_pool`` and its articles' files."""
    out = []
    for q in questions:
        terms = qa.query_terms(q.question)
        pool = A.build_pool(corpus.store, q.question, terms, A.DEFAULT_K + 1, corpus.reranker)
        files = {
            a.id: a.file
            for a in corpus.store.articles(sorted({s.article_id for s in pool.sentences}))
        }
        out.append((q, pool, files))
    return out


def grid(pools: list[tuple], gaps: list[float]) -> list[tuple]:
    """(gap, hit over shown, mean quotes, share answering) for each gap."""
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
    parser.add_argument("--folds", type=Path, nargs="+", help="cross-encoder weights a fold")
    args = parser.parse_args()
    if args.folds and args.reranker != "cross":
        parser.error("--folds needs --reranker cross")
    gaps = [float(g) for g in args.gaps.split(",")]
    for path in args.squad:
        squad = ev.load_squad(path)
        questions = [q for q in squad.questions if q.answerable]
        items = []
        for k, weights in enumerate(args.folds or [None]):
            asked = questions
            if weights is not None:
                from retrieval import cross_encoder

                cross_encoder.WEIGHTS = weights  # read when the re-ranker loads
                rerank._encoders.pop("cross", None)
                fold = held_out([str(q.article) for q in questions], k, len(args.folds))
                asked = [q for q, f in zip(questions, fold, strict=True) if f]
            with squad_corpus(squad, reranker=args.reranker) as corpus:  # as `eval` builds it
                items += pools(corpus, asked)
        rows = grid(items, gaps)
        held = f", {len(args.folds)} folds held out" if args.folds else ""
        print(f"{path.name} ({args.reranker}{held}): gap  hit over shown  quotes  answering")
        for gap, hit, quotes, answering in rows:
            print(f"  {gap:6}  {hit:.3f}  {quotes:.2f}  {answering:.3f}")
        uncut = next(r[1] for r in rows if math.isinf(r[0]))
        pick = min((r[0] for r in rows if r[1] >= uncut - 0.02 - 1e-9), default=math.inf)
        print(f"  smallest gap within 2 points of the uncut hit ({uncut:.3f}): {pick}")


if __name__ == "__main__":
    main()
