"""The slash commands: ``/ask``, ``/source`` and ``/about``, added to the bot's tree.

Each command defers when its work may be slow, runs Corpus calls in a worker thread
(:func:`asyncio.to_thread`), and renders with :mod:`bot.render`. Failures are not handled
here: they go to the tree's one error handler (``bot.app.CorpusTree.on_error``).
"""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands

from bot import admin, render
from bot.views import ask, corpus_of, send_answer, send_article

QUESTION_MAX = 300
# A person may ask this many questions per this many seconds (answered ephemerally after).
ASK_RATE = 3
ASK_PER = 30.0
AUTOCOMPLETE_LIMIT = 25  # Discord's maximum number of choices


@app_commands.command(name="ask", description="Ask a question; get exact, cited sentences.")
@app_commands.describe(question="Your question, in your own words (up to 300 characters)")
@app_commands.checks.cooldown(ASK_RATE, ASK_PER, key=lambda i: i.user.id)
async def ask_command(
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
    answer = await ask(interaction, question)
    await send_answer(interaction, answer)


@app_commands.command(name="source", description="Read a whole article from the corpus.")
@app_commands.describe(article="Start typing a title, outlet or date and pick an article")
async def source_command(interaction: discord.Interaction, article: str) -> None:
    # One indexed lookup: fast enough to answer without deferring, which lets an
    # unknown name be answered ephemerally while a found article is shown to all.
    corpus = corpus_of(interaction)
    match = await asyncio.to_thread(corpus.find_source, article)
    if match.article is None:
        await interaction.response.send_message(
            render.candidates_message(article, match.candidates), ephemeral=True
        )
        return
    await send_article(interaction, corpus, match.article, ephemeral=False)


@source_command.autocomplete("article")
async def source_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    articles = await asyncio.to_thread(
        corpus_of(interaction).suggest, current, limit=AUTOCOMPLETE_LIMIT
    )
    # The value is the id: /source resolves it exactly, whatever the title looks like.
    return [
        app_commands.Choice(name=render.choice_name(a), value=str(a.id))
        for a in articles[:AUTOCOMPLETE_LIMIT]
    ]


@app_commands.command(name="about", description="What this bot knows and how to ask it.")
async def about_command(interaction: discord.Interaction) -> None:
    stats = await asyncio.to_thread(corpus_of(interaction).stats)
    embed = render.about_embed(stats)
    embed.add_field(name="Your questions", value=admin.log_notice(interaction.client), inline=False)
    await interaction.response.send_message(embed=embed)


def add_commands(tree: app_commands.CommandTree) -> None:
    """Put the slash commands on ``tree`` (the bot does at start-up, before any sync)."""
    for command in (ask_command, source_command, about_command):
        tree.add_command(command)
