"""The slash commands: ``/ask``, ``/source`` and ``/about``, as one cog.

Each command defers when its work may be slow, runs Corpus calls in a worker thread
(:func:`asyncio.to_thread`), and renders with :mod:`bot.render`. Failures are not handled
here: they go to the tree's one error handler (``bot.app.CorpusTree.on_error``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.views import ask, send_answer, send_article

if TYPE_CHECKING:
    from bot.app import CorpusBot

QUESTION_MAX = 300
# A person may ask this many questions per this many seconds (answered ephemerally after).
ASK_RATE = 3
ASK_PER = 30.0
AUTOCOMPLETE_LIMIT = 25  # Discord's maximum number of choices


class CorpusCommands(commands.Cog):
    """Questions and articles from the news corpus."""

    def __init__(self, bot: CorpusBot) -> None:
        self.bot = bot

    @app_commands.command(name="ask", description="Ask a question; get exact, cited sentences.")
    @app_commands.describe(question="Your question, in your own words (up to 300 characters)")
    @app_commands.checks.cooldown(ASK_RATE, ASK_PER, key=lambda i: i.user.id)
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, QUESTION_MAX],
    ) -> None:
        # Discord enforces the bounds in its client; a crafted payload is still answered kindly.
        if not question.strip() or len(question) > QUESTION_MAX:
            await interaction.response.send_message(
                f"A question is 1–{QUESTION_MAX} characters; yours has {len(question)}.",
                ephemeral=True,
            )
            return
        # Defer first: the first response must come within 3 seconds.
        await interaction.response.defer(thinking=True)
        answer = await ask(self.bot.corpus, question, user_id=interaction.user.id)
        await send_answer(interaction, answer)

    @app_commands.command(name="source", description="Read a whole article from the corpus.")
    @app_commands.describe(article="Start typing a title, outlet or date and pick an article")
    async def source(self, interaction: discord.Interaction, article: str) -> None:
        # One indexed lookup: fast enough to answer without deferring, which lets an
        # unknown name be answered ephemerally while a found article is shown to all.
        match = await asyncio.to_thread(self.bot.corpus.find_source, article)
        if match.article is None:
            await interaction.response.send_message(
                render.candidates_message(article, match.candidates), ephemeral=True
            )
            return
        await send_article(interaction, self.bot.corpus, match.article, ephemeral=False)

    @source.autocomplete("article")
    async def source_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        articles = await asyncio.to_thread(
            self.bot.corpus.suggest, current, limit=AUTOCOMPLETE_LIMIT
        )
        # The value is the id: /source resolves it exactly, whatever the title looks like.
        return [
            app_commands.Choice(name=render.choice_name(a), value=str(a.id))
            for a in articles[:AUTOCOMPLETE_LIMIT]
        ]

    @app_commands.command(name="about", description="What this bot knows and how to ask it.")
    async def about(self, interaction: discord.Interaction) -> None:
        stats = await asyncio.to_thread(self.bot.corpus.stats)
        await interaction.response.send_message(embed=render.about_embed(stats))


async def setup(bot: CorpusBot) -> None:
    """Extension entry point (``await bot.load_extension("bot.commands")``)."""
    await bot.add_cog(CorpusCommands(bot))
