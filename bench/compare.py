"""Paired bootstrap of two ``corpusbot eval --json`` reports over the same questions.

    corpusbot eval SET --json > before.json   # at the old commit
    corpusbot eval SET --json > after.json    # at the new one
    .venv/bin/python bench/compare.py before.json after.json [--article squad.jsonl#a1]

For hit@1, hit@3 and MRR over the answerable questions: the change (after − before) and
its 95% confidence interval from 10,000 paired resamples of the questions (seeded, so
reruns print the same). ``--article`` keeps only the questions of one gold article (to
report a held-out article on its own); plus the counts of answerable questions refused
and unanswerable ones answered "not found".
"""

from __future__ import annotations

import argparse
import json

import numpy as np

RESAMPLES = 10_000


def per_question(report: dict, article: str | None) -> dict[str, tuple[float, float, float]]:
    """id -> (hit@1, hit@3, reciprocal rank) for the answerable questions."""
    out = {}
    for q in report["questions"]:
        if not q["answerable"] or (article and not (q.get("article") or "").endswith(article)):
            continue
        r = q["rank"]
        out[q["id"]] = (float(r == 1), float(r is not None and r <= 3), 1 / r if r else 0.0)
    return out


def bootstrap(diff: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the mean of ``diff`` over paired resamples."""
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (RESAMPLES, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--article", help="only the questions of this gold article")
    args = parser.parse_args()
    reports = []
    for path in (args.before, args.after):
        with open(path, encoding="utf-8") as f:
            reports.append(json.load(f))
    a, b = (per_question(r, args.article) for r in reports)
    ids = sorted(set(a) & set(b))
    if not ids:
        raise SystemExit("no answerable question in common")
    x = np.array([a[i] for i in ids])
    y = np.array([b[i] for i in ids])
    print(f"{len(ids)} answerable questions in common")
    print(f"{'':8}{'before':>8}{'after':>8}{'change':>8}   95% CI")
    for j, name in enumerate(("hit@1", "hit@3", "MRR")):
        lo, hi = bootstrap(y[:, j] - x[:, j])
        print(
            f"{name:8}{x[:, j].mean():>8.3f}{y[:, j].mean():>8.3f}"
            f"{(y[:, j] - x[:, j]).mean():>+8.3f}   [{lo:+.3f}, {hi:+.3f}]"
        )
    for name, r in zip(("before", "after"), reports, strict=True):
        print(
            f"{name}: refused {r['answerable']['refused']}/{r['answerable']['n']} answerable, "
            f"{r['unanswerable']['not_found']}/{r['unanswerable']['n']} unanswerable not found"
        )


if __name__ == "__main__":
    main()
