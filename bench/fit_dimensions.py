"""A learned weight for each of WordLlama's 256 dimensions, fitted on one domain and
scored on the others (docs/decisions/020-learned-ranker-not-kept.md, "Later: paragraphs
and WordLlama's dimensions").

    .venv/bin/python bench/fit_dimensions.py ../shared/eval/squad2/dev-v2.0-public.json \\
        ../shared/eval/covidqa/covidqa-public.json ../shared/eval/scifact [--l2 0.1 0.01]

Needs torch (``pip install -e '.[semantic]'``) for the gradients. A set is a SQuAD-format
file or a BEIR folder with sentence judgements, as ``corpusbot eval`` reads them. Each
answerable question's pool comes from the real ``answer.build_pool`` with ``wordllama``.
The question's, each sentence's and each window's vector (the summed token vectors the
re-ranker reads) are multiplied by ``exp(θ)`` before their cosines, which replace the
shipped similarity and window similarity in the fused score, at their shipped weights.
θ is fitted on one set's pools by a listwise softmax (the pool's hits share the target
mass; Adam, 300 steps; L2 on θ), then every set is scored by hit@1 / hit@3 over the top
3, with the paired bootstrap 95% CI of the change against the shipped score.
"""

from __future__ import annotations

import argparse
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import bootstrap
from pool_experiments import top3

from bot.cli import squad_corpus
from retrieval import answer as A
from retrieval import evaluate as ev
from retrieval import question as qa
from retrieval.fusion import FUSION
from retrieval.text import clean

W = FUSION["wordllama"].weights
# The Features columns in order, at their weights; 3 and 4 are the two cosines.
WEIGHTS = np.array(
    [
        1.0,
        W.coverage,
        W.kind,
        W.similarity,
        W.window_similarity,
        W.soft_coverage,
        W.window_soft_coverage,
    ]
)


def pools(path: Path) -> list[dict | None]:
    """Each answerable question's pool: the features, the raw vector sums, and what
    ``top3`` needs to score it."""
    squad = ev.load_squad(path) if path.is_file() else ev.load_rationale_set(path)
    out: list[dict | None] = []
    with squad_corpus(squad, reranker="wordllama") as corpus:
        reranker = corpus.reranker
        for q in [q for q in squad.questions if q.answerable]:
            question = clean(q.question)
            terms = qa.query_terms(question)
            pool = A.build_pool(corpus.store, question, terms, A.DEFAULT_K + 1, reranker)
            if not pool.sentences:
                out.append(None)
                continue
            found = pool.sentences
            ids = sorted({s.article_id for s in found})
            files = {a.id: a.file for a in corpus.store.articles(ids)}
            at = {(s.article_id, s.position): i for i, s in enumerate(found)}
            before = np.array([at.get((s.article_id, s.position - 1), -1) for s in found])
            flat, bounds = reranker._pieces([question, *(s.text for s in found)])
            sums = np.stack(
                [
                    reranker.table[flat[a:b]].sum(axis=0, dtype=np.float64)
                    for a, b in pairwise(bounds)
                ]
            )
            window = sums[1:].copy()
            window[before >= 0] += sums[1:][before[before >= 0]]
            out.append(
                {
                    "question": sums[0],
                    "sentence": sums[1:],
                    "window": window,
                    "rest": pool.features @ WEIGHTS - pool.features[:, 3:5] @ WEIGHTS[3:5],
                    "fused": pool.fused,
                    "bm25": pool.bm25,
                    "ids": np.array([s.id for s in found]),
                    "gold": np.array([ev.is_hit(s, files[s.article_id], q) for s in found]),
                    "relevant": pool.relevant,
                    "norm": [" ".join(s.text.split()).casefold() for s in found],
                }
            )
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def fused(p: dict, scale: np.ndarray) -> np.ndarray:
    """The fused score with the two cosines read through ``scale``."""
    q = _unit(p["question"] * scale)
    return (
        p["rest"]
        + WEIGHTS[3] * (_unit(p["sentence"] * scale) @ q)
        + WEIGHTS[4] * (_unit(p["window"] * scale) @ q)
    )


def fit(items: list[dict | None], l2: float, steps: int = 300) -> np.ndarray:
    """``exp(θ)`` that maximises the listwise likelihood of the pools' hits."""
    normalize = torch.nn.functional.normalize
    data = []
    for p in items:
        if p is not None and p["gold"].any():
            shown = p["relevant"]  # only sentences that may be shown compete
            data.append(
                (
                    torch.tensor(p["question"]),
                    *(torch.tensor(p[k][shown]) for k in ("sentence", "window", "rest", "gold")),
                )
            )
    theta = torch.zeros(len(data[0][0]), dtype=torch.float64)
    theta.requires_grad_(True)
    optimiser = torch.optim.Adam([theta], lr=0.02)
    for _ in range(steps):
        optimiser.zero_grad()
        scale = torch.exp(theta)
        loss = l2 * (theta**2).mean()
        for q, sentence, window, rest, gold in data:
            qq = normalize(q * scale, dim=0)
            score = (
                rest
                + WEIGHTS[3] * (normalize(sentence * scale, dim=1) @ qq)
                + WEIGHTS[4] * (normalize(window * scale, dim=1) @ qq)
            )
            loss = loss - torch.logsumexp(torch.log_softmax(score, 0)[gold], 0) / len(data)
        loss.backward()
        optimiser.step()
    return np.exp(theta.detach().numpy())


def first_hits(items: list[dict | None], scale: np.ndarray | None) -> np.ndarray:
    """Each question's rank of its first hit in the top 3 (0: none)."""
    out = []
    for p in items:
        if p is None:
            out.append(0)
            continue
        shown = top3(p, p["fused"] if scale is None else fused(p, scale))
        out.append(next((r for r, i in enumerate(shown, 1) if p["gold"][i]), 0))
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--l2", nargs="+", type=float, default=[0.1, 0.01])
    args = parser.parse_args()
    sets = {path.stem: pools(path) for path in args.sets}
    shipped = {name: first_hits(items, None) for name, items in sets.items()}
    for name, r in shipped.items():
        print(f"shipped {name}: {(r == 1).mean():.3f} / {((r >= 1) & (r <= 3)).mean():.3f}")
    for fit_on in sets:
        for l2 in args.l2:
            scale = fit(sets[fit_on], l2)
            print(f"fit on {fit_on}, L2 {l2} (weights {scale.min():.2f}–{scale.max():.2f}):")
            for name, items in sets.items():
                r, base = first_hits(items, scale), shipped[name]
                cells = []
                for k in (1, 3):
                    now, before = (r >= 1) & (r <= k), (base >= 1) & (base <= k)
                    diff = now.astype(float) - before
                    low, high = bootstrap(diff)
                    cells.append(
                        f"hit@{k} {now.mean():.3f} ({diff.mean():+.3f} [{low:+.3f}, {high:+.3f}])"
                    )
                mark = " (fitted on)" if name == fit_on else ""
                print(f"  {name}{mark}: " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
