"""The admin's side of the bot: the question log's retention, and its periodic work.

:func:`setup` is called from the bot's ``setup_hook``: it starts the daily purge of the
question log (the first one at start-up). Background tasks are kept on the bot
(``bot.background``) and cancelled when it closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from retrieval import querylog

if TYPE_CHECKING:
    from bot.app import CorpusBot

log = logging.getLogger("corpusbot.bot")

DAY = 24 * 3600.0


def setup(bot: CorpusBot) -> None:
    """Start the bot's periodic admin work."""
    days = querylog.settings().days
    bot.background.append(asyncio.create_task(every(DAY, lambda: purge(bot, days))))


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
