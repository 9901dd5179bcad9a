"""How a re-ranker's evidence becomes an answer: the features of a candidate sentence, their
weights in the fused score, the abstention level and the relevance cut, one set a re-ranker."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.rerank import Reranker


@dataclass(frozen=True)
class Weights:
    """The weight of each :class:`Features` value in the fused score (the BM25 share's is
    1). Fitted on SQuAD public by ``bench/fit_fusion.py``, one article held out at a time
    (docs/decisions/006-fused-score-weights.md)."""

    coverage: float
    kind: float
    similarity: float = 0.0
    window_similarity: float = 0.0
    soft_coverage: float = 0.0
    window_soft_coverage: float = 0.0


@dataclass(frozen=True)
class Fusion:
    """How one re-ranker's evidence becomes an answer: the fused score's ``weights``;
    ``min_evidence``, below which no candidate is close enough to answer (None: never
    abstain, as lexical evidence alone did not separate answerable questions from
    off-topic ones); and ``max_gap``, the relevance cut: a quote is shown only while its
    fused score is within ``max_gap`` of the first quote's (docs/answer-quality.md)."""

    weights: Weights
    min_evidence: float | None
    max_gap: float
    # ``cross``: the fused top ``pair_top`` sentences that may be shown are read with the
    # question by a cross-encoder, and ``pair_weight`` × its score is added to their fused
    # score (docs/decisions/027-a-trained-cross-encoder.md).
    pair_weight: float = 0.0
    pair_top: int = 0


# One set a re-ranker: their cosines and fused scores are on different scales.
# min_evidence: the largest multiple of 0.05 that refuses under 1% of the answerable
# questions of SQuAD public and of COVID-QA public, each. max_gap: the smallest multiple
# of 0.05 that costs at most 2 points of hit over the shown quotes on each of them
# (docs/decisions/018-relevance-cut.md).
FUSION = {
    "none": Fusion(Weights(coverage=1.75, kind=0.5), min_evidence=None, max_gap=0.65),
    "wordllama": Fusion(
        Weights(
            coverage=2.75,
            kind=1.5,
            similarity=1.0,
            window_similarity=2.25,
            soft_coverage=1.75,
            window_soft_coverage=2.5,
        ),
        min_evidence=0.45,
        max_gap=1.3,
    ),
    "minilm": Fusion(
        Weights(
            coverage=3.5,
            kind=1.75,
            similarity=2.75,
            window_similarity=3.25,
            soft_coverage=2.0,
            window_soft_coverage=2.75,
        ),
        min_evidence=0.55,
        max_gap=1.5,
    ),
}
# ``cross`` ranks wordllama's pool, abstains as it does, and adds the cross-encoder's
# score: pair_weight and pair_top as chosen on articles held out of its training
# (docs/decisions/027-a-trained-cross-encoder.md, 028-the-default-stays-wordllama.md);
# max_gap by the rule above, applied to the scores of models that never saw the question's
# article.
FUSION["cross"] = Fusion(
    FUSION["wordllama"].weights,
    min_evidence=FUSION["wordllama"].min_evidence,
    max_gap=2.45,
    pair_weight=0.25,
    pair_top=20,
)

# Abstention's evidence is a candidate's cosine similarity plus this share of its window
# coverage (docs/decisions/008-abstention-evidence.md).
EVIDENCE_COVERAGE = 0.5


def fusion_for(reranker: Reranker | None) -> Fusion:
    """The :class:`Fusion` of ``reranker`` (None: ``none``); an unknown re-ranker is an
    error, not another re-ranker's constants."""
    name = "none" if reranker is None else reranker.name
    try:
        return FUSION[name]
    except KeyError:
        raise ValueError(f"no fusion constants for re-ranker {name!r}") from None


@dataclass(frozen=True)
class Features:
    """What the fused score weighs, for one candidate sentence."""

    share: float  # its BM25 score over the best candidate's
    coverage: float  # share of the question's term weight in it and its neighbours
    kind: float  # 1 when it holds the asked kind of thing (number, date, reason)
    similarity: float = 0.0  # cos(question, sentence); 0 without a re-ranker
    window_similarity: float = 0.0  # cos(question, the sentence before + this one)
    soft_coverage: float = 0.0  # soft term coverage of the sentence (rerank.Similarities)
    window_soft_coverage: float = 0.0  # the same of the window

    def fused(self, w: Weights) -> float:
        # Also applied to a Features of NumPy columns (rerank scores a pool at once): the
        # same operations in the same order, so the same floats.
        return (
            self.share
            + w.coverage * self.coverage
            + w.kind * self.kind
            + w.similarity * self.similarity
            + w.window_similarity * self.window_similarity
            + w.soft_coverage * self.soft_coverage
            + w.window_soft_coverage * self.window_soft_coverage
        )
