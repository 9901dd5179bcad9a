"""What every interaction handler of the bot shares: the corpus and question log of an
interaction, the /ask limit, the base of the buttons that survive restarts, Discord's
limits."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Self

import discord
from discord import app_commands

if TYPE_CHECKING:
    from retrieval.corpus import Corpus
    from retrieval.querylog import QueryLog

RESULTS_PER_ANSWER = 3
CUSTOM_ID_LIMIT = 100  # Discord: a component's custom_id is 1–100 characters
BUTTONS_PER_ROW = 5
# An answer found within this many seconds is sent as the first response (a not-found or
# a mistake privately); a slower one is deferred first. Discord allows 3 s for the first
# response; the rest is left for the request itself on a busy machine.
ANSWER_WITHIN = 1.0
REASON_LIMIT = 300


def corpus_of(interaction: discord.Interaction) -> Corpus:
    """The bot's Corpus (one per process, thread-safe)."""
    return interaction.client.corpus  # type: ignore[attr-defined]


def querylog_of(interaction: discord.Interaction) -> QueryLog | None:
    """The bot's question log, or None when it keeps none (``CORPUSBOT_QUERY_LOG=off``)."""
    found = getattr(interaction.client, "query_log", None)
    return found if found is not None and found.enabled else None


class AskLimit:
    """``rate`` questions per ``per`` seconds a person, shared by ``/ask`` and ``More``
    (``app_commands.checks.cooldown`` keeps one bucket a command; both must use one)."""

    def __init__(self, rate: int, per: float) -> None:
        self.rate, self.per = rate, per
        self._buckets: dict[int, app_commands.Cooldown] = {}

    def check(self, interaction: discord.Interaction) -> bool:
        """Count one question; raise :class:`app_commands.CommandOnCooldown` when over."""
        if len(self._buckets) > 10_000:  # forget people whose allowance is whole again
            self._buckets = {u: b for u, b in self._buckets.items() if b.get_tokens() < b.rate}
        bucket = self._buckets.setdefault(
            interaction.user.id, app_commands.Cooldown(self.rate, self.per)
        )
        retry_after = bucket.update_rate_limit()
        if retry_after:
            raise app_commands.CommandOnCooldown(bucket, retry_after)
        return True


def ask_limit(interaction: discord.Interaction) -> bool:
    """The app-command check for ``/ask`` (and the first thing ``More`` does)."""
    return interaction.client.ask_limit.check(interaction)  # type: ignore[attr-defined]


class Persistent:
    """A dynamic item whose failures reach the tree's one error handler (discord.py
    would only log them, and the person would see "This interaction failed")."""

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.run(interaction)
        except Exception as error:
            await interaction.client.tree.on_error(interaction, error)  # type: ignore[attr-defined]

    async def run(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError


class ArticleButton(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"(?!)",  # matches nothing: only the subclasses below are registered
):
    """A button on the second row that names one article: ``cb:<kind>:<article id>``.
    A subclass gives its own ``template`` (discord.py reads it per class), ``kind``,
    ``label`` and ``style``, and :meth:`run`; the label survives a restart."""

    kind: ClassVar[str]
    label: ClassVar[str]
    style: ClassVar[discord.ButtonStyle] = discord.ButtonStyle.secondary

    def __init__(self, article_id: int, *, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or self.label,
                style=self.style,
                custom_id=f"cb:{self.kind}:{article_id}",
                row=1,
            )
        )
        self.article_id = article_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> Self:
        return cls(int(match["article"]), label=item.label)
