"""The Discord client: configuration, command tree, the one error handler, and ``serve()``.

``serve()`` is what ``corpusbot serve`` and ``python -m bot`` run. Start-up problems a
person can fix (no token, a rejected token, an unusable database) are one line on stderr
and exit status 1, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import sys
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands

from bot import admin, metrics, render
from bot.commands import ASK_PER, ASK_RATE, add_commands
from bot.config import Config, ConfigError, load_config
from bot.interactions import AskLimit
from bot.translator import Translator
from bot.views import PERSISTENT_ITEMS, submit_question
from bot.votes import submit_reason
from retrieval import querylog, spelling
from retrieval.corpus import Corpus
from retrieval.errors import CorpusError
from retrieval.fetch import Fetcher
from retrieval.querylog import QueryLog
from retrieval.settings import Settings
from retrieval.web import Web, refresh_seconds

log = logging.getLogger("corpusbot.bot")

APOLOGY = "Sorry, something went wrong on my side. It has been logged; please try again."
UNAVAILABLE = "Search is unavailable right now. Please try again in a little while."


def intents() -> discord.Intents:
    """Slash commands need no privileged intent; ``guilds`` keeps the guild cache sane."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    return wanted


class CorpusTree(app_commands.CommandTree):
    """A command tree with the bot's one error handler (buttons route their errors here too).

    What a person sees is private and generic; the detail goes to the log."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError | Exception
    ) -> None:
        original = getattr(error, "original", error)
        what = interaction.command.qualified_name if interaction.command else "component"
        if isinstance(error, app_commands.CommandOnCooldown):
            wait = max(1, math.ceil(error.retry_after))
            log.info("cooldown user=%s retry_after=%.1f", interaction.user.id, error.retry_after)
            message = f"You're asking quickly. Please wait {wait} s before your next question."
        elif isinstance(original, CorpusError):
            # A broken or busy database: the person can only wait; the admin needs the detail.
            log.warning("corpus error in %s user=%s: %s", what, interaction.user.id, original)
            message = UNAVAILABLE
        elif isinstance(error, app_commands.CheckFailure):
            message = "You can't use this command here."
        else:
            log.error(
                "unhandled error in %s (interaction %s)",
                what,
                interaction.id,
                exc_info=(type(original), original, original.__traceback__),
            )
            message = APOLOGY
        await self._tell(interaction, message)

    @staticmethod
    async def _tell(interaction: discord.Interaction, message: str) -> None:
        """Answer privately however far the interaction got; never raise from here.

        After a deferral the first follow-up replaces the "thinking…" message and keeps its
        visibility, which is private wherever this bot defers before it knows the outcome."""
        message = render.shorten(message, render.CONTENT_LIMIT)
        try:
            if interaction.type is discord.InteractionType.autocomplete:
                if not interaction.response.is_done():
                    await interaction.response.autocomplete([])
            elif interaction.response.is_done():
                await interaction.followup.send(message, ephemeral=True)
            else:
                await interaction.response.send_message(message, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("could not tell the user about an error: %s", exc)


class CorpusBot(discord.Client):
    """The bot: a Corpus, its question log, the slash commands, and nothing that pings.

    A ``discord.Client`` with an ``app_commands.CommandTree``, as in discord.py's slash
    command examples, rather than ``commands.Bot``: the bot has slash commands only, and
    ``commands.Bot`` would add prefix-command parsing (and demand a prefix) for none.
    With the question log off (``CORPUSBOT_QUERY_LOG=off``) no question is kept: answers
    then carry no vote or More buttons (docs/discord.md).
    """

    def __init__(
        self,
        corpus: Corpus,
        *,
        guild_id: int | None = None,
        sync: bool = False,
        query_log: QueryLog | None = None,
        **options: Any,
    ):
        # The bot never joins voice: don't warn at every start that voice libraries are absent.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            intents=intents(), allowed_mentions=discord.AllowedMentions.none(), **options
        )
        self.tree = CorpusTree(self)
        self.corpus = corpus
        self.guild_id = guild_id
        self.sync_commands = sync
        # Every /ask and More is logged here (bot/asking.py); off with CORPUSBOT_QUERY_LOG=off.
        self.query_log = query_log if query_log is not None else querylog.for_corpus(corpus)
        self.background: list[asyncio.Task[None]] = []  # bot/admin.py's periodic work
        self.web: Web | None = None  # pages and feeds (bot/admin.py sets it up)
        self.refresh_every = 0.0
        self.ask_limit = AskLimit(ASK_RATE, ASK_PER)
        self._mentions: dict[str, str] = {}

    async def setup_hook(self) -> None:
        await self.tree.set_translator(Translator())
        add_commands(self.tree)
        admin.setup(self)
        # Buttons are matched by their custom_id, whichever process sent them.
        self.add_dynamic_items(*PERSISTENT_ITEMS)
        if self.sync_commands:
            await self.sync_tree()

    async def sync_tree(self) -> list[app_commands.AppCommand]:
        """Publish the commands: to one guild at once when configured, else globally."""
        if self.guild_id is not None:
            guild = discord.Object(id=self.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), self.guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands (may take a while to appear)", len(synced))
        self._mentions = {c.name: c.mention for c in synced}
        return synced

    async def command_mentions(self) -> dict[str, str]:
        """Command name → clickable mention (``</ask:id>``), fetched once from Discord; empty
        (plain ``/ask`` then) if Discord cannot say."""
        if not self._mentions:
            guild = discord.Object(id=self.guild_id) if self.guild_id is not None else None
            try:
                fetched = await self.tree.fetch_commands(guild=guild)
            except discord.HTTPException as exc:
                log.warning("could not fetch the commands' ids: %s", exc)
                return {}
            self._mentions = {c.name: c.mention for c in fetched}
        return self._mentions

    async def on_ready(self) -> None:
        log.info("ready as %s (id %s)", self.user, self.user.id if self.user else "?")

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        # Forms carry their state in their custom_id, like the buttons (bot/views.py).
        try:
            await submit_reason(interaction) or await submit_question(interaction)
        except Exception as error:
            await self.tree.on_error(interaction, error)

    async def close(self) -> None:
        for task in self.background:
            task.cancel()
        await super().close()
        self.query_log.close()
        if self.web is not None:
            self.web.close()


class ShardedCorpusBot(CorpusBot, discord.AutoShardedClient):
    """The same bot on several gateway shards (``DISCORD_SHARD_COUNT``), or on some of
    them (``DISCORD_SHARD_IDS``) so several processes can split a large bot's shards."""


def build_bot(corpus: Corpus, config: Config, *, sync: bool = False) -> CorpusBot:
    """The bot the settings ask for: unsharded, or the given gateway shards."""
    if config.gateway_shard_count is None:
        return CorpusBot(corpus, guild_id=config.guild_id, sync=sync)
    return ShardedCorpusBot(
        corpus,
        guild_id=config.guild_id,
        sync=sync,
        shard_count=config.gateway_shard_count,
        shard_ids=list(config.gateway_shard_ids) if config.gateway_shard_ids is not None else None,
    )


def use_endpoints(config: Config) -> None:
    """Point discord.py at a Discord-compatible endpoint (tests use a fake on 127.0.0.1).

    REST calls, interaction callbacks and follow-up webhooks all go through ``Route.BASE``.
    """
    if config.api_base:
        discord.http.Route.BASE = config.api_base
    if config.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(config.gateway_url)


def _fail(message: str) -> int:
    print(f"corpusbot: {message}", file=sys.stderr)
    return 1


async def _run(bot: CorpusBot, token: str) -> None:
    loop = asyncio.get_running_loop()
    # A service manager stops us with SIGTERM: log out cleanly instead of dying mid-reply.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(bot.close()))
    async with bot:
        await bot.start(token)


def serve(*, sync: bool = False, settings: Settings | None = None) -> int:
    """Run the bot until it is stopped; return the process exit status. ``settings``
    (default: from the environment and ``.env``) say where the corpus is."""
    discord.utils.setup_logging(level=logging.INFO, root=True)
    try:
        config = load_config()
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        # A bad setting is one line here, not a failure at the first question or refresh.
        querylog.settings()
        refresh_seconds()
        Fetcher.from_env()
        metrics_config = metrics.settings()
    except ValueError as exc:
        return _fail(str(exc))
    use_endpoints(config)
    try:
        if settings is None:
            settings = Settings.load(db=config.db_path)
        corpus = Corpus.open(settings=settings)
    except CorpusError as exc:
        return _fail(str(exc))
    try:
        metrics.serve(metrics_config)
    except OSError as exc:
        corpus.close()
        return _fail(f"cannot serve metrics on {metrics_config.host}:{metrics_config.port}: {exc}")
    metrics.track_corpus(corpus)
    # Load the re-ranker now, not at the first question (a model takes seconds to load);
    # one that cannot load is one warning here, and answers use lexical evidence only.
    log.info("re-ranker: %s", corpus.reranker.name if corpus.reranker else "none")
    spelling.english()  # the word list misspellings are told by (0.2 s), not at a question

    bot = build_bot(corpus, config, sync=sync)
    try:
        asyncio.run(_run(bot, config.token))
    except discord.LoginFailure:
        return _fail(
            "Discord rejected DISCORD_TOKEN; copy the bot token again from the "
            "Developer Portal (Bot → Reset Token)."
        )
    except discord.PrivilegedIntentsRequired:
        return _fail("Discord asked for a privileged intent; this bot needs none.")
    except discord.ConnectionClosed as exc:
        if exc.code == 4004:  # the gateway's "authentication failed"
            return _fail("Discord rejected DISCORD_TOKEN at the gateway.")
        return _fail(f"the Discord connection closed (code {exc.code}).")
    except discord.HTTPException as exc:
        return _fail(f"Discord answered {exc.status} during start-up: {exc.text or exc}")
    except (OSError, aiohttp.ClientError) as exc:
        return _fail(f"cannot reach Discord: {exc}")
    except KeyboardInterrupt:
        pass
    finally:
        corpus.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bot [--sync]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot", description="Run the Discord bot.")
    parser.add_argument(
        "--sync", action="store_true", help="publish the slash commands to Discord first"
    )
    args: Any = parser.parse_args(argv)
    return serve(sync=args.sync)
