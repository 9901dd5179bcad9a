"""``corpusbot embed``: store a MiniLM vector for every sentence that has none.

The ``minilm`` re-ranker (:mod:`retrieval.rerank`) embeds only the question at query time
and reads the candidates' vectors from the store's ``vectors`` table. Embedding is slow
(about 90 sentences/s on 2 cores), so it is a separate, resumable pass: sentences are
taken in id order, a batch at a time, each batch committed on its own, so an interrupted
run keeps what it did and the next run does only the rest, and after an ingest only
the new sentences. A removed article's vectors go with its sentences.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from retrieval import rerank
from retrieval.backend import Backend
from retrieval.errors import CorpusError

MODEL = "minilm"
BATCH = 256  # sentences per commit: a few seconds of MiniLM on 2 cores


@dataclass(frozen=True)
class EmbedProgress:
    done: int  # sentences embedded by this run so far
    total: int  # sentences this run had to embed


@dataclass(frozen=True)
class EmbedReport:
    embedded: int  # by this run
    vectors: int  # sentences with a vector now
    sentences: int  # sentences in the corpus
    seconds: float

    def summary(self) -> str:
        rate = f", {self.embedded / self.seconds:,.0f} sentences/s" if self.seconds > 0 else ""
        return (
            f"embedded {self.embedded:,} sentences in {self.seconds:.1f} s{rate}; "
            f"{self.vectors:,} of {self.sentences:,} sentences have a {MODEL} vector"
        )


def pending(store: Backend, model: str = MODEL) -> int:
    """How many sentences have no vector from ``model`` yet."""
    return store.counts()[1] - store.vector_count(model)


def embed(
    store: Backend,
    *,
    model: str = MODEL,
    encode: rerank.Encoder | None = None,
    batch: int | None = None,
    progress: Callable[[EmbedProgress], None] | None = None,
) -> EmbedReport:
    """Embed and store every sentence without a ``model`` vector, ``batch`` (default
    :data:`BATCH`) per commit.

    ``encode`` defaults to the model itself; one that is not installed or fails to load
    raises :class:`CorpusError` with a one-line message, before anything is written.
    """
    if encode is None:
        try:
            encode = rerank.encoder(model)
        except Exception as err:
            hint = (
                f": install it with {rerank.INSTALL_HINT[model]}"
                if not rerank.installed(model)
                else ""
            )
            raise CorpusError(f"cannot load the {model} model ({err}){hint}") from err
    batch = max(1, batch or BATCH)
    started = time.monotonic()
    total, done, after = pending(store, model), 0, 0
    while rows := store.unembedded(model, after=after, limit=batch):
        vectors = encode([s.text for s in rows])
        store.put_vectors(model, {s.id: v for s, v in zip(rows, vectors, strict=True)})
        done, after = done + len(rows), rows[-1].id
        if progress is not None:
            progress(EmbedProgress(done=done, total=max(total, done)))
    return EmbedReport(
        embedded=done,
        vectors=store.vector_count(model),
        sentences=store.counts()[1],
        seconds=time.monotonic() - started,
    )
