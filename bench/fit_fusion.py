"""How the fused score's weights were chosen: fit on one SQuAD article, test on the other.

    .venv/bin/python bench/fit_fusion.py ../shared/eval/squad2/dev-v2.0-public.json
    .venv/bin/python bench/fit_fusion.py SQUAD.json --reranker none   # the lexical weights

Builds the SQuAD set's corpus with the normal ingest, takes every answerable question's
candidate pool with its :class:`retrieval.answer.Features` from the real ``rerank()``,
and fits the weights by a listwise softmax (the pool's hits share the target mass;
plain NumPy gradient descent, L2 0.01; weights relative to the BM25 share's). For each article
it fits on the others and scores that article with those weights (held out), then fits
on all: the shipped constants (``retrieval/answer.py``) are the all-article fit, rounded.
Abstention is not part of the fit (see docs/answer-quality.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval import answer as A
from retrieval import evaluate as ev
from retrieval import question as qa
from retrieval.corpus import Corpus
from retrieval.embed import embed

NAMES = (
    "share",
    "coverage",
    "kind",
    "similarity",
    "window_similarity",
    "soft_coverage",
    "window_soft_coverage",
)


EVIDENCE: list[float] = []  # each answerable question's best evidence (for abstention)


def pools(corpus: Corpus, questions: list[ev.GoldQuestion]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per answerable question: the feature matrix of its pool (deduplicated, in the
    order rerank() gives) and which rows answer it."""
    out = []
    for q in questions:
        terms = qa.query_terms(q.question)
        pool = A.build_pool(corpus.store, q.question, terms, A.CANDIDATES, corpus.reranker)
        EVIDENCE.append(max((x.evidence for x in pool.scored), default=0.0))
        seen, rows, hits = set(), [], []
        ids = sorted({x.sentence.article_id for x in pool.scored})
        files = {a.id: a.file for a in corpus.store.articles(ids)}
        for x in pool.scored:
            norm = " ".join(x.sentence.text.split()).casefold()
            if norm in seen:
                continue
            seen.add(norm)
            rows.append([getattr(x.features, n) for n in NAMES])
            hits.append(ev.is_hit(x.sentence, files[x.sentence.article_id], q))
        out.append((np.array(rows).reshape(-1, len(NAMES)), np.array(hits, float)))
    return out


def fit(data: list, use: list[int], steps: int = 400, rate: float = 0.5) -> np.ndarray:
    """Listwise softmax fit of the weights of the features ``use``, relative to the share's."""
    w = np.zeros(len(NAMES))
    w[0] = 1.0
    for _ in range(steps):
        grad = np.zeros(len(NAMES))
        n = 0
        for x, y in data:
            if not y.sum():
                continue
            s = x @ w * 5
            p = np.exp(s - s.max())
            p /= p.sum()
            grad += x.T @ (p - y / y.sum()) * 5
            n += 1
        grad = grad / max(n, 1) + 0.01 * w
        grad[[i for i in range(len(NAMES)) if i not in use]] = 0.0
        w -= rate * grad
    return w / w[0]


def score(data: list, w: np.ndarray) -> tuple[float, float, float]:
    """hit@1, hit@3 and MRR@3 of ordering each pool by ``x @ w``."""
    h1 = h3 = mrr = 0.0
    for x, y in data:
        order = np.argsort(-(x @ w), kind="stable")
        ranks = np.flatnonzero(y[order][:3]) + 1
        r = int(ranks[0]) if len(ranks) else None
        h1 += r == 1
        h3 += r is not None
        mrr += 1 / r if r else 0.0
    return h1 / len(data), h3 / len(data), mrr / len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path)
    parser.add_argument("--reranker", default="wordllama")
    args = parser.parse_args()
    squad = ev.load_squad(args.squad)
    use = [0, 1, 2] if args.reranker == "none" else list(range(len(NAMES)))
    with (
        tempfile.TemporaryDirectory() as tmp,
        Corpus.create(Path(tmp) / "squad.db", reranker=args.reranker) as corpus,
    ):
        corpus.ingest([squad.write_jsonl(tmp)])
        if args.reranker == "minilm":  # its candidates' vectors come from the store
            embed(corpus.store)
        by_article = {
                a.id: pools(corpus, [q for q in squad.questions if q.answerable and
                                     q.article.endswith("#" + a.id)])
                for a in squad.articles
            }  # fmt: skip
    held = []
    for name, data in by_article.items():
        rest = [p for other, d in by_article.items() if other != name for p in d]
        w = fit(rest, use)
        held += [(p, w) for p in data]
        weights = " ".join(f"{n}={v:.2f}" for n, v in zip(NAMES, w, strict=True) if v)
        h1, h3, _ = score(data, w)
        print(f"held out {name} ({len(data)} q): {weights}: hit@1 {h1:.3f} hit@3 {h3:.3f}")
    n = len(held)
    pooled = np.array([score([p], w) for p, w in held]).sum(axis=0) / n
    print(f"held out, pooled ({n} q): hit@1 {pooled[0]:.3f} hit@3 {pooled[1]:.3f}")
    low = np.percentile(EVIDENCE, [0, 1, 2])
    print(
        f"answerable questions' best evidence: min {low[0]:.3f}, 1% {low[1]:.3f}, 2% {low[2]:.3f}"
    )
    everything = [p for d in by_article.values() for p in d]
    w = fit(everything, use)
    weights = " ".join(f"{n}={v:.2f}" for n, v in zip(NAMES, w, strict=True) if v)
    print(f"fit on all: {weights}: in-sample hit@1/hit@3/MRR " + "/".join(
        f"{v:.3f}" for v in score(everything, w)))  # fmt: skip


if __name__ == "__main__":
    main()
