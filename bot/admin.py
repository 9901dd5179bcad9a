"""The admin's side of the bot: the ``/corpus`` commands and the periodic work.

``/corpus`` is one command group for the people who run the server
(``default_permissions(manage_guild=True)``: Discord shows it to members with *Manage
Server* only, and server admins can change who sees it under *Integrations*), usable in
servers only, and every reply is private (ephemeral):

- ``/corpus stats``: the corpus's size and the question log's last seven days;
- ``/corpus report``: the short gap report (``corpusbot report`` has the whole one);
- ``/corpus add file:`` (``.txt``, ``.md``, ``.html``, ``.jsonl``; size-capped) or ``url:``;
- ``/corpus remove article:`` (autocomplete; the article's id, file or exact title);
- ``/corpus feeds list|add|remove``: the RSS/Atom feeds refreshed every
  ``CORPUSBOT_REFRESH``.

Each command is thin: the work is a call of the same functions the CLI uses, in a worker
thread (:func:`asyncio.to_thread`), so an ingest never stalls the gateway.

:func:`setup` adds the group to the tree and starts the periodic work: the question
log's purge (at start-up, then daily) and the feed refresh. Background tasks are kept on
the bot (``bot.background``) and cancelled when it closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot import metrics
from retrieval import library, querylog
from retrieval import report as reporting
from retrieval.errors import CorpusError
from retrieval.ingest import IngestReport
from retrieval.models import Article
from retrieval.querylog import backend_name
from retrieval.web import FeedResult, PageResult, Web, refresh_seconds

if TYPE_CHECKING:
    from bot.app import CorpusBot
    from retrieval.corpus import Corpus

log = logging.getLogger("corpusbot.bot")

DAY = 24 * 3600.0
UPLOAD_ENV = "CORPUSBOT_UPLOAD_MAX_BYTES"
UPLOAD_MAX_BYTES = 5 * 1024 * 1024
AUTOCOMPLETE_LIMIT = 25
MESSAGE_LIMIT = 2000  # Discord's content limit


def upload_limit() -> int:
    raw = (os.environ.get(UPLOAD_ENV) or "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else UPLOAD_MAX_BYTES


def _bot(interaction: discord.Interaction) -> CorpusBot:
    return interaction.client  # type: ignore[return-value]


def _corpus(interaction: discord.Interaction) -> Corpus:
    return _bot(interaction).corpus


def plain(text: str, limit: int = MESSAGE_LIMIT - 100) -> str:
    """Text shown inside a code block, where no markdown or mention is rendered (a
    triple backtick in the text is broken up so it cannot close the block); cut to
    ``limit`` characters first, so the block is always closed."""
    text = text.replace("```", "`\u200b``")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return "```\n" + text + "\n```"


async def reply(interaction: discord.Interaction, text: str) -> None:
    """A private reply, whether or not the command deferred."""
    if len(text) > MESSAGE_LIMIT:
        text = text[: MESSAGE_LIMIT - 1] + "…"
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


corpus_group = app_commands.Group(
    name="corpus",
    description="Manage the corpus: stats, the gap report, adding and removing articles.",
    # guild_only sends dm_permission=false; contexts=[guild] is what newer clients read.
    guild_only=True,
    allowed_contexts=app_commands.AppCommandContext(guild=True),
    default_permissions=discord.Permissions(manage_guild=True),
)


@corpus_group.command(name="stats", description="Articles, sentences and questions asked.")
async def stats_command(interaction: discord.Interaction) -> None:
    bot = _bot(interaction)
    week = (datetime.now(UTC) - timedelta(days=7)).isoformat(timespec="seconds")

    def read() -> str:
        stats = bot.corpus.stats()
        lines = [
            f"{stats.articles:,} articles, {stats.sentences:,} sentences, {stats.terms:,} terms",
            f"database {stats.db_bytes / 1e6:.1f} MB, re-ranker {stats.reranker}",
        ]
        if bot.query_log.enabled:
            asked = [a for a in bot.query_log.questions(since=week) if a.offset == 0]
            found = sum(1 for a in asked if a.status == "answered")
            lines.append(f"last 7 days: {len(asked)} questions, {found} answered")
        else:
            lines.append("question log: off (CORPUSBOT_QUERY_LOG=off)")
        return "\n".join(lines)

    await reply(interaction, await asyncio.to_thread(read))


@corpus_group.command(name="report", description="The short gap report of the last 7 days.")
async def report_command(interaction: discord.Interaction) -> None:
    bot = _bot(interaction)
    since = reporting.parse_since("7d")

    def build() -> str:
        asked = bot.query_log.questions(since=since)
        votes = bot.query_log.votes(since=since)
        errors = bot.web.errors(since) if bot.web is not None else []
        report = reporting.build(
            asked, votes, bot.corpus.articles(), since=since, top=5, fetch_errors=errors
        )
        return reporting.short_text(report, limit=MESSAGE_LIMIT - 80)

    text = await asyncio.to_thread(build)
    await reply(interaction, plain(text) + "\nThe whole report: `corpusbot report`.")


@corpus_group.command(name="add", description="Add an article: a file or a web page's address.")
@app_commands.describe(
    file="A .txt, .md, .html or .jsonl file (a file of the same name replaces the earlier one)",
    url="An article page or an RSS/Atom feed (http or https)",
)
async def add_command(
    interaction: discord.Interaction,
    file: discord.Attachment | None = None,
    url: str | None = None,
) -> None:
    if (file is None) == (url is None):
        await reply(interaction, "Give either a file or a url (one of them).")
        return
    corpus = _corpus(interaction)
    if file is not None:
        limit = upload_limit()
        name = library.safe_name(file.filename)
        if not name.endswith(library.UPLOAD_SUFFIXES):
            suffixes = ", ".join(library.UPLOAD_SUFFIXES)
            await reply(interaction, f"Only {suffixes} files can be added; `{name}` is not one.")
            return
        if file.size > limit:
            await reply(interaction, f"`{name}` is {file.size:,} bytes; the limit is {limit:,}.")
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await file.read()
        report = await asyncio.to_thread(
            library.add_upload, corpus, file.filename, data, max_bytes=limit
        )
        await reply(interaction, plain(ingest_text(name, report)))
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    await reply(interaction, plain(await add_url(_bot(interaction), url or "")))


async def add_url(bot: CorpusBot, url: str) -> str:
    """``/corpus add url:``: a page, or a feed read once (not registered)."""
    web = _web(bot)
    result = await asyncio.to_thread(web.add, url)
    count(result)
    return result_text(result)


def _web(bot: CorpusBot) -> Web:
    if bot.web is None:
        raise CorpusError("web pages and feeds need the SQLite backend and valid fetch settings")
    return bot.web


def count(result: PageResult | FeedResult) -> None:
    """Feed refreshes and page fetches in the metrics, by outcome."""
    metrics.observe_feed(result.outcome)
    for page in getattr(result, "pages", []):
        metrics.observe_feed(page.outcome)


def result_text(result: PageResult | FeedResult) -> str:
    lines = [result.line()]
    pages = getattr(result, "pages", [])
    lines += [f"  {page.line()}" for page in pages[:15]]
    if len(pages) > 15:
        lines.append(f"  … {len(pages) - 15} more")
    return "\n".join(lines)


def ingest_text(name: str, report: IngestReport) -> str:
    """One ingest's outcome in a few lines for the admin."""
    lines = [f"{name}: {report.summary()}."]
    lines += [f"skipped {path}: {reason}" for path, reason in report.failed[:5]]
    return "\n".join(lines)


@corpus_group.command(name="remove", description="Remove one article from the corpus.")
@app_commands.describe(article="Start typing a title and pick the article")
async def remove_command(interaction: discord.Interaction, article: str) -> None:
    corpus = _corpus(interaction)

    def remove() -> Article | None:
        found = exact_article(corpus, article)
        if found is not None:
            corpus.remove(found.id)
        return found

    removed = await asyncio.to_thread(remove)
    if removed is None:
        await reply(
            interaction,
            "No article is named exactly that; nothing was removed. "
            "Pick one from the list as you type.",
        )
        return
    log.info("admin removed article id=%d file=%s user=%s", removed.id, removed.file,
             interaction.user.id)  # fmt: skip
    citation = discord.utils.escape_mentions(discord.utils.escape_markdown(removed.citation()))
    await reply(interaction, f"Removed article {removed.id}: {citation}"[:500])


def exact_article(corpus: Corpus, name: str) -> Article | None:
    """The article named exactly (id, file or title): deleting is not a search."""
    name = name.strip()
    if name.isdigit():
        return corpus.store.article(int(name))
    return corpus.store.article_by_name(name)


@remove_command.autocomplete("article")
async def remove_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    articles = await asyncio.to_thread(
        _corpus(interaction).suggest, current, limit=AUTOCOMPLETE_LIMIT
    )
    return [
        app_commands.Choice(name=_choice(f"{a.id}: {a.citation()}"), value=str(a.id))
        for a in articles[:AUTOCOMPLETE_LIMIT]
    ]


def _choice(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 100 else text[:99] + "…"  # Discord: 1-100 characters


feeds_group = app_commands.Group(
    name="feeds", description="The RSS/Atom feeds refreshed automatically.", parent=corpus_group
)


@feeds_group.command(name="list", description="The registered feeds and when each was read.")
async def feeds_list(interaction: discord.Interaction) -> None:
    feeds = await asyncio.to_thread(_web(_bot(interaction)).feeds)
    if not feeds:
        await reply(interaction, "No feeds yet: `/corpus feeds add url:` registers one.")
        return
    lines = [
        f"{f.url}  {f.title or ''}  "
        + (f"(error: {f.error})" if f.error else f"(read {f.checked_at or 'never'})")
        for f in feeds
    ]
    await reply(interaction, plain("\n".join(lines)))


@feeds_group.command(name="add", description="Register a feed and read it now.")
@app_commands.describe(url="The feed's address (RSS or Atom, http or https)")
async def feeds_add(interaction: discord.Interaction, url: str) -> None:
    web = _web(_bot(interaction))
    await interaction.response.defer(ephemeral=True, thinking=True)
    result = await asyncio.to_thread(web.add_feed, url)
    count(result)
    every_minutes = round(_bot(interaction).refresh_every / 60)
    note = "" if result.outcome == "error" else f"\nRegistered: read every {every_minutes} min."
    await reply(interaction, plain(result_text(result)) + note)


@feeds_group.command(name="remove", description="Stop reading a feed (its articles stay).")
@app_commands.describe(url="The feed to stop reading")
async def feeds_remove(interaction: discord.Interaction, url: str) -> None:
    removed = await asyncio.to_thread(_web(_bot(interaction)).remove_feed, url)
    text = "Removed; its articles stay." if removed else "No such feed is registered."
    await reply(interaction, text)


@feeds_remove.autocomplete("url")
async def feeds_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    bot = _bot(interaction)
    feeds = await asyncio.to_thread(bot.web.feeds) if bot.web is not None else []
    wanted = current.casefold()
    return [
        app_commands.Choice(name=_choice(f.title or f.url), value=f.url[:100])
        for f in feeds
        if wanted in f.url.casefold() or wanted in (f.title or "").casefold()
    ][:AUTOCOMPLETE_LIMIT]


async def refresh_feeds(bot: CorpusBot) -> None:
    """One round over the registered feeds (off the event loop); errors are log lines."""
    if bot.web is None:
        return
    for result in await asyncio.to_thread(bot.web.refresh_all):
        count(result)


def log_notice(bot: CorpusBot) -> str:
    """What ``/about`` (and ``/help``) tell members about the question log."""
    if not bot.query_log.enabled:
        return "Questions are not logged."
    days = querylog.settings().days
    return (
        f"Questions are logged for {days} days so the corpus can be improved: the question, "
        "what was shown and your vote, with your user id as a salted hash, never the id. "
        "The bot's admin can turn this off (CORPUSBOT_QUERY_LOG=off)."
    )


# -- set-up and periodic work -------------------------------------------------------------


def setup(bot: CorpusBot) -> None:
    """Add ``/corpus`` to the tree and start the periodic admin work: the question log's
    purge (daily) and the feed refresh (every ``CORPUSBOT_REFRESH``), both at once too."""
    bot.tree.add_command(corpus_group)
    days = querylog.settings().days
    bot.refresh_every = refresh_seconds()
    bot.web = None
    if backend_name(bot.corpus) == "sqlite":
        bot.web = Web(bot.corpus)  # fetch settings were checked by serve()
    bot.background.append(asyncio.create_task(every(DAY, lambda: purge(bot, days))))
    bot.background.append(asyncio.create_task(every(bot.refresh_every, lambda: refresh_feeds(bot))))


async def every(seconds: float, work: Callable[[], Awaitable[object]]) -> None:
    """Run ``work`` now and then every ``seconds``; an error is one log line, and the
    next round runs as planned."""
    while True:
        try:
            await work()
        except Exception:
            log.exception("periodic work failed")
        await asyncio.sleep(seconds)


async def purge(bot: CorpusBot, days: int) -> int:
    """Delete the logged questions older than ``days`` days (off the event loop)."""
    deleted = await asyncio.to_thread(bot.query_log.purge, days)
    if deleted:
        log.info("question log: %d questions older than %d days deleted", deleted, days)
    return deleted
