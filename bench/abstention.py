"""How well each abstention signal separates questions to answer from questions to refuse.

    .venv/bin/python bench/abstention.py ../shared/eval/squad2/dev-v2.0-public.json \\
        ../shared/eval/dev.jsonl ../shared/eval/offtopic_dev.jsonl [--reranker minilm]

Each question's candidate pool comes from the real ``rerank()``; a signal is the pool's
best value of one of its features. For each signal it prints the AUC of SQuAD's
answerable questions against its unanswerable ones, the AUC of the answerable questions
(SQuAD and the dev set) against the off-topic ones, and how many unanswerable and
off-topic questions fall below the threshold that refuses 1% of SQuAD's answerable
questions. A question whose words no sentence holds counts as refused by every signal
(it gets "not found" before any signal is read). The SQuAD corpus is built with the
normal ingest; the dev and off-topic questions are asked of the seed corpus.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval import answer as A
from retrieval import evaluate as ev
from retrieval import question as qa
from retrieval.corpus import Corpus
from retrieval.embed import embed

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
REFUSED = -1e9  # no candidate at all: below every threshold


# name -> the pool's value (features: the columns of answer.Features, in order)
SIGNALS: dict[str, Callable[[A.Pool], float]] = {
    "evidence: max(cos + 0.5 · window coverage) (shipped)": lambda p: p.evidence.max(),
    "max cos(question, sentence)": lambda p: p.features[:, 3].max(),
    "max cos(question, window)": lambda p: p.features[:, 4].max(),
    "max window coverage": lambda p: p.features[:, 1].max(),
    # The pool lists rank()'s candidates first, in BM25 order: row 0 is the best.
    "coverage of the best BM25 sentence (the old MIN_COVERAGE rule)": lambda p: p.features[0, 1],
}


def values(corpus: Corpus, questions: list[ev.GoldQuestion]) -> dict[str, np.ndarray]:
    """Each signal's value for each question, in order."""
    out: dict[str, list[float]] = {name: [] for name in SIGNALS}
    for q in questions:
        terms = qa.query_terms(q.question)
        pool = terms and A.build_pool(
            corpus.store, q.question, terms, A.CANDIDATES, corpus.reranker
        )
        for name, signal in SIGNALS.items():
            out[name].append(signal(pool) if pool and len(pool.sentences) else REFUSED)
    return {name: np.array(v) for name, v in out.items()}


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """The chance that a random positive scores above a random negative (ties: half)."""
    above = (positive[:, None] > negative[None, :]).mean()
    return float(above + 0.5 * (positive[:, None] == negative[None, :]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path)
    parser.add_argument("dev", type=Path)
    parser.add_argument("offtopic", type=Path)
    parser.add_argument("--reranker", default="wordllama")
    args = parser.parse_args()
    squad = ev.load_squad(args.squad)

    def fill(corpus: Corpus, source: Path) -> None:
        corpus.ingest([source])
        if args.reranker == "minilm":  # its candidates' vectors come from the store
            embed(corpus.store)

    with tempfile.TemporaryDirectory() as tmp:
        with Corpus.create(Path(tmp) / "squad.db", reranker=args.reranker) as corpus:
            fill(corpus, squad.write_jsonl(tmp))
            answerable = values(corpus, [q for q in squad.questions if q.answerable])
            unanswerable = values(corpus, [q for q in squad.questions if not q.answerable])
        with Corpus.create(Path(tmp) / "seeds.db", reranker=args.reranker) as corpus:
            fill(corpus, SEEDS)
            dev = values(corpus, [q for q in ev.load_gold(args.dev) if q.answerable])
            offtopic = values(corpus, ev.load_gold(args.offtopic))
    print(
        "| signal | AUC answerable vs SQuAD unanswerable | AUC answerable vs off-topic "
        "| SQuAD unanswerable caught at 1% | off-topic caught at 1% |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name in SIGNALS:
        threshold = np.quantile(answerable[name], 0.01)
        both = np.concatenate([answerable[name], dev[name]])
        print(
            f"| {name} | {auc(answerable[name], unanswerable[name]):.2f} "
            f"| {auc(both, offtopic[name]):.2f} "
            f"| {(unanswerable[name] < threshold).sum()}/{len(unanswerable[name])} "
            f"| {(offtopic[name] < threshold).sum()}/{len(offtopic[name])} |"
        )


if __name__ == "__main__":
    main()
