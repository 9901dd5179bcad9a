"""One question asked in Discord: answered off the event loop, logged, counted.

Every ``/ask`` and every ``More`` page goes through :func:`ask_logged`: the Corpus call
in a worker thread, then one row in the question log (:mod:`retrieval.querylog`, also in
a worker thread; a failure there is a warning, never a lost answer), one structured log
line and the Prometheus counters (:mod:`bot.metrics`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import metrics
from retrieval.models import Answer
from retrieval.querylog import backend_name

if TYPE_CHECKING:
    import discord

log = logging.getLogger("corpusbot.bot")


@dataclass(frozen=True)
class Asked:
    """An answer as the bot got it: what to show, and its row in the question log."""

    answer: Answer
    question_id: int | None  # None when the log is off or the row could not be written
    latency_ms: float


async def ask_logged(
    interaction: discord.Interaction,
    question: str,
    *,
    typed: str | None = None,
    offset: int = 0,
    k: int = 3,
    article_id: int | None = None,
) -> Asked:
    """Answer ``question`` (results after ``offset``; from one article with
    ``article_id``) for the person behind ``interaction``, and log it; ``typed`` is the
    question as the person wrote it, when the bot cleaned it before asking (the log
    keeps that)."""
    client = interaction.client
    corpus = client.corpus  # type: ignore[attr-defined]
    started = time.perf_counter()
    answer = await asyncio.to_thread(
        corpus.ask, question, k=k, offset=offset, article_id=article_id
    )
    latency_ms = (time.perf_counter() - started) * 1000
    backend = backend_name(corpus)
    qlog = getattr(client, "query_log", None)
    question_id = user = None
    if qlog is not None and qlog.enabled:

        def record() -> tuple[int | None, str | None]:
            row = qlog.record(
                answer,
                k=k,
                latency_ms=latency_ms,
                backend=backend,
                source="discord",
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                user_id=interaction.user.id,
                question=typed if typed is not None else question,
            )
            return row, qlog.safe_user_hash(interaction.user.id)

        question_id, user = await asyncio.to_thread(record)
    metrics.observe_question(answer.status.value, latency_ms / 1000)
    log.info(
        # The user as the question log stores them (a salted hash), never the raw id.
        "question user=%s id=%s status=%s hits=%d offset=%d has_more=%s latency_ms=%.1f "
        "backend=%s guild=%s question=%r",
        user or "-",
        question_id,
        answer.status.value,
        len(answer.hits),
        offset,
        answer.has_more,
        latency_ms,
        backend,
        interaction.guild_id,
        question,
    )
    return Asked(answer, question_id, latency_ms)
