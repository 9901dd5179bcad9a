"""The slash commands: ``/ask``, ``/source``, ``/help`` and ``/about``, added to the tree.

A command answers at once when its work is fast (so a mistake or a "not found" can be
private) and defers only when it is slow; Corpus calls run in a worker thread
(:func:`asyncio.to_thread`) and replies are rendered by :mod:`bot.render`. Failures are
not handled here: they go to the tree's one error handler (``bot.app.CorpusTree.on_error``).

Every command works in servers and in direct messages with the bot (``allowed_contexts``),
for a bot installed to a server (``allowed_installs``). Names and descriptions are
:class:`app_commands.locale_str`, so the tree's translator (:mod:`bot.translator`) can
localise them.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.app_commands import locale_str as _

from bot import admin, render
from bot.article_views import PickMenu, open_article, send_article
from bot.interactions import ask_limit, corpus_of
from bot.question import plain_question
from bot.views import answer_first, ask, send_answer
from retrieval.errors import CorpusError

log = logging.getLogger("corpusbot.bot")

QUESTION_MAX = 300
# A person may ask this many questions per this many seconds (More counts as a question).
ASK_RATE = 3
ASK_PER = 30.0
AUTOCOMPLETE_LIMIT = 25  # Discord's maximum number of choices


def everywhere(command: app_commands.Command) -> app_commands.Command:
    """Usable in servers and in DMs with the bot, when the bot is installed to a server."""
    command = app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)(command)
    return app_commands.allowed_installs(guilds=True, users=False)(command)


@everywhere
@app_commands.command(name=_("ask"), description=_("Ask a question; get exact, cited sentences."))
@app_commands.describe(
    question=_("Your question, in your own words (up to 300 characters)"),
    article=_("Only this article: start typing a title, outlet or date and pick one"),
)
@app_commands.check(ask_limit)
async def ask_command(
    interaction: discord.Interaction,
    question: app_commands.Range[str, 1, QUESTION_MAX],
    article: str | None = None,
) -> None:
    # Discord enforces the bounds in its client; a crafted payload is still answered kindly.
    if len(question) > QUESTION_MAX:
        await interaction.response.send_message(
            f"A question is at most {QUESTION_MAX} characters; yours has {len(question):,}.",
            ephemeral=True,
        )
        return
    plain = plain_question(question)
    if not plain:
        await interaction.response.send_message(render.EMPTY_QUESTION, ephemeral=True)
        return
    article_id = None
    if article is not None:
        # The same lookup as /source (an autocomplete pick is an id), answered privately
        # when it does not name exactly one article.
        match = await asyncio.to_thread(corpus_of(interaction).find_source, article)
        if match.article is None:
            reply = render.ask_within_message(article, several=bool(match.candidates))
            await interaction.response.send_message(reply, ephemeral=True)
            return
        article_id = match.article.id
    page, deferred = await answer_first(
        interaction,
        lambda: ask(interaction, plain, typed=question, article_id=article_id),
        ephemeral=True,
    )
    await send_answer(interaction, page, deferred=deferred)


@everywhere
@app_commands.command(name=_("source"), description=_("Read a whole article from the corpus."))
@app_commands.describe(
    article=_("Start typing a title, outlet or date and pick an article"),
    public=_("Show it to everyone in the channel (default: only you)"),
)
async def source_command(
    interaction: discord.Interaction, article: str, public: bool = False
) -> None:
    # One indexed lookup and one article: fast enough to answer without deferring.
    corpus = corpus_of(interaction)
    match = await asyncio.to_thread(corpus.find_source, article)
    if match.article is not None:
        opened = await open_article(interaction, match.article.id)
        if opened is not None:
            await send_article(interaction, opened, public=public)
            return
    if match.candidates:
        view = discord.ui.View(timeout=None)
        view.add_item(PickMenu(list(match.candidates), public=public))
        await interaction.response.send_message(render.SEVERAL_MATCH, view=view, ephemeral=True)
        return
    await interaction.response.send_message(render.no_article_message(article), ephemeral=True)


@ask_command.autocomplete("article")
@source_command.autocomplete("article")
async def source_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    try:
        articles = await asyncio.to_thread(
            corpus_of(interaction).suggest, current, limit=AUTOCOMPLETE_LIMIT
        )
    except CorpusError as exc:
        # Typing goes on; an empty list is all Discord can show. One line, no traceback.
        log.warning("autocomplete unavailable user=%s: %s", interaction.user.id, exc)
        return []
    # The value is the id: /source resolves it exactly, whatever the title looks like.
    return [
        app_commands.Choice(name=render.choice_name(a), value=str(a.id))
        for a in articles[:AUTOCOMPLETE_LIMIT]
    ]


@everywhere
@app_commands.command(name=_("help"), description=_("How to ask questions and read articles."))
async def help_command(interaction: discord.Interaction) -> None:
    mentions = await interaction.client.command_mentions()  # type: ignore[attr-defined]
    await interaction.response.send_message(embed=render.help_embed(mentions), ephemeral=True)


@everywhere
@app_commands.command(name=_("about"), description=_("What this bot knows."))
async def about_command(interaction: discord.Interaction) -> None:
    stats = await asyncio.to_thread(corpus_of(interaction).stats)
    mentions = await interaction.client.command_mentions()  # type: ignore[attr-defined]
    embed = render.about_embed(stats, mentions.get("help"))
    embed.add_field(name="Your questions", value=admin.log_notice(interaction.client), inline=False)
    await interaction.response.send_message(embed=embed, ephemeral=True)


def add_commands(tree: app_commands.CommandTree) -> None:
    """Put the slash commands on ``tree`` (the bot does at start-up, before any sync)."""
    for command in (ask_command, source_command, help_command, about_command):
        tree.add_command(command)
