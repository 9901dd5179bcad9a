"""Questions reach the question log: every /ask and More from the bot (in process, real
interactions through the real command tree against the fake Discord), ``corpusbot ask
--log`` from the command line (a subprocess), and the retention purge at start-up."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.app import CorpusBot
from retrieval.corpus import Corpus
from retrieval.querylog import QueryLog
from tests.fakediscord import CHANNEL_ID, GUILD_ID, FakeDiscord, Interaction, Sent
from tests.test_cli import ACCEPTANCE, run

pytestmark = pytest.mark.unit

TOKEN = "admin-logging-token"
BROAD = "Kazakhstan"  # more than one page of quotes that pass the relevance cut


@pytest.fixture
def corpus(corpus_path: Path) -> Any:
    corpus = Corpus.open(corpus_path, create=False)
    yield corpus
    corpus.close()


@asynccontextmanager
async def running(corpus: Corpus, **bot_options: Any) -> AsyncIterator[tuple[FakeDiscord, Any]]:
    fake = FakeDiscord(token=TOKEN)
    await fake.start()
    old_base = discord.http.Route.BASE
    discord.http.Route.BASE = fake.api_base
    bot = CorpusBot(corpus, guild_id=GUILD_ID, sync=True, **bot_options)
    try:
        await bot.login(TOKEN)
        yield fake, bot
    finally:
        await bot.close()
        discord.http.Route.BASE = old_base
        await fake.stop()


def run_bot(scenario: Callable[[FakeDiscord, Any], Awaitable[None]], corpus: Corpus, **kw) -> None:
    async def main() -> None:
        async with running(corpus, **kw) as (fake, bot):
            await scenario(fake, bot)

    asyncio.run(main())


async def invoke(bot: CorpusBot, interaction: Interaction) -> None:
    real = discord.Interaction(data=interaction.payload, state=bot._connection)
    try:
        await bot.tree._call(real)
    except app_commands.AppCommandError as error:
        await bot.tree._dispatch_error(real, error)


async def click(fake: FakeDiscord, bot: CorpusBot, message: dict, label: str, user: int) -> Sent:
    custom_id = next(
        item["custom_id"]
        for row in message["components"]
        for item in row["components"]
        if item.get("label") == label
    )
    interaction = fake.click(message, custom_id, user)
    bot._connection.parse_interaction_create(interaction.payload)
    return await fake.wait_reply(interaction)


def test_every_ask_and_more_is_logged(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        ask = fake.slash("ask", 501, question=BROAD)
        await invoke(bot, ask)
        answer = fake.sent_for(ask.token)[-1]
        await click(fake, bot, answer.message, "More", 502)
        await invoke(bot, fake.slash("ask", 501, question="zebra quantum chromodynamics"))

    run_bot(scenario, corpus)
    with QueryLog(corpus.path) as qlog:
        first, more, missing = qlog.questions()
        hashes = (qlog.user_hash(501), qlog.user_hash(502))
    assert (first.question, first.offset, first.status, first.source) == (
        BROAD,
        0,
        "answered",
        "discord",
    )
    assert (first.guild_id, first.channel_id) == (str(GUILD_ID), str(CHANNEL_ID))
    assert first.backend == "sqlite" and first.k == 3 and first.latency_ms > 0
    assert [sid for sid, _ in first.shown] == [
        h.sentence.id for h in corpus.ask(BROAD, k=3).hits
    ]  # what was shown, in order
    # More: the next page, by the person who pressed it.
    assert (more.question, more.offset) == (BROAD, len(first.shown))
    assert {s for s, _ in more.shown}.isdisjoint(s for s, _ in first.shown)
    assert (first.user_hash, more.user_hash) == hashes
    assert missing.status == "not_found" and missing.shown == ()


def test_a_disabled_log_stores_nothing_from_the_bot(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        ask = fake.slash("ask", 503, question=ACCEPTANCE)
        await invoke(bot, ask)
        assert "Tourism Year" in fake.sent_for(ask.token)[-1].text

    run_bot(scenario, corpus, query_log=QueryLog(corpus.path, enabled=False))
    with sqlite3.connect(corpus.path) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "questions" not in names


def test_old_questions_are_purged_at_start_up(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORPUSBOT_QUERY_LOG_DAYS", "30")
    with QueryLog(corpus.path) as qlog:
        answer = corpus.ask(ACCEPTANCE)
        old, recent = (
            qlog.record(answer, k=3, latency_ms=1, backend="sqlite", source="cli") for _ in range(2)
        )
    stamp = (datetime.now(UTC) - timedelta(days=31)).isoformat(timespec="seconds")
    with sqlite3.connect(corpus.path) as conn:
        conn.execute("UPDATE questions SET asked_at = ? WHERE id = ?", (stamp, old))

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        for _ in range(200):  # the purge runs in a worker thread once the bot starts
            if bot.query_log.get(old) is None:
                break
            await asyncio.sleep(0.05)

    run_bot(scenario, corpus)
    with QueryLog(corpus.path) as qlog:
        assert qlog.get(old) is None and qlog.get(recent) is not None


# ---------------------------------------------------------------------------- the CLI


def logged(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT question, status, source FROM questions ORDER BY id").fetchall()


def test_cli_questions_are_logged_only_with_log(corpus_path: Path) -> None:
    assert run("ask", ACCEPTANCE, db=corpus_path).returncode == 0
    with sqlite3.connect(corpus_path) as conn:
        assert "questions" not in {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    done = run("ask", "--log", ACCEPTANCE, db=corpus_path)
    assert done.returncode == 0 and "Tourism Year" in done.stdout and done.stderr == ""
    done = run("ask", "--log", "--json", "-", db=corpus_path, stdin="astana expo\nzebra quark\n")
    assert done.returncode == 0
    assert logged(corpus_path) == [
        (ACCEPTANCE, "answered", "cli"),
        ("astana expo", "answered", "cli"),
        ("zebra quark", "not_found", "cli"),
    ]
    with sqlite3.connect(corpus_path) as conn:
        assert conn.execute(
            "SELECT count(*) FROM questions WHERE user_hash IS NULL"
        ).fetchone() == (3,)


def test_cli_log_off_says_so_and_still_answers(corpus_path: Path) -> None:
    done = run("ask", "--log", ACCEPTANCE, db=corpus_path, env={"CORPUSBOT_QUERY_LOG": "off"})
    assert done.returncode == 0 and "Tourism Year" in done.stdout
    assert done.stderr.strip() == "corpusbot: not logged: CORPUSBOT_QUERY_LOG is off"
    done = run("ask", "--log", ACCEPTANCE, db=corpus_path, env={"CORPUSBOT_QUERY_LOG": "sometimes"})
    assert done.returncode == 1 and done.stderr.startswith("corpusbot: error: CORPUSBOT_QUERY_LOG")


def test_cli_log_on_a_read_only_database_still_answers(seed_db: Path, tmp_path: Path) -> None:
    from tests.test_hardening_cli import run_as

    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "corpus.db"
    shutil.copy(seed_db, db)
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        done = run_as(["ask", "--log", ACCEPTANCE], db)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0 and "Tourism Year" in done.stdout, done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["corpus.db"]
