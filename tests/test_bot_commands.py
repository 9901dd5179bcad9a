"""In-process tests: real ``discord.Interaction`` objects through the real ``CommandTree``.

The bot logs in against a :class:`FakeDiscord` served in the test's own event loop (so
interaction callbacks and follow-ups are real HTTP requests we can inspect), and uses the
real Corpus on a temporary SQLite file built from ``seeds/``. Commands are invoked the way
discord.py's own tests do (``tree._call``); button clicks go through the connection state
exactly as a gateway ``INTERACTION_CREATE`` would.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands

from bot import views
from bot.app import APOLOGY, CorpusBot
from retrieval.corpus import Corpus
from retrieval.errors import StoreError
from tests.fakediscord import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    GUILD_ID,
    UPDATE_MESSAGE,
    FakeDiscord,
    Interaction,
    Sent,
)

TOKEN = "inprocess-token"
SEED_QUESTION = "Which tourism year was launched in Kazakhstan in 2017?"
SEED_QUOTE = "The China Tourism Year that has been launched in Kazakhstan in 2017"
BROAD_QUESTION = "China Kazakhstan cooperation"  # more than one page of results
SEED_CITATION = "President Xi’s visit cements China-Kazakhstan ties — Alwihda Info, 2017-06-07"


@pytest.fixture(scope="session")
def built_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store built from seeds/ per test session; tests work on copies of it."""
    path = tmp_path_factory.mktemp("bot-store") / "corpus.db"
    Corpus.open(path, create=True).close()
    return path


@pytest.fixture
def corpus(built_db: Path, tmp_path: Path) -> Any:
    path = tmp_path / "corpus.db"
    shutil.copy(built_db, path)
    corpus = Corpus.open(path, create=False)
    yield corpus
    corpus.close()


@asynccontextmanager
async def running(corpus: Corpus) -> AsyncIterator[tuple[FakeDiscord, CorpusBot]]:
    """A logged-in bot (commands synced to the fake guild) and the fake it talks to."""
    fake = FakeDiscord(token=TOKEN)
    await fake.start()
    old_base = discord.http.Route.BASE
    discord.http.Route.BASE = fake.api_base
    bot = CorpusBot(corpus, guild_id=GUILD_ID, sync=True)
    try:
        await bot.login(TOKEN)  # GET /users/@me, application info, setup_hook (cog + sync)
        yield fake, bot
    finally:
        await bot.close()
        discord.http.Route.BASE = old_base
        await fake.stop()


def run(scenario: Callable[[FakeDiscord, CorpusBot], Awaitable[None]], corpus: Corpus) -> None:
    async def main() -> None:
        async with running(corpus) as (fake, bot):
            await scenario(fake, bot)

    asyncio.run(main())


async def invoke(bot: CorpusBot, interaction: Interaction) -> None:
    """Run a command/autocomplete interaction through the tree and wait for it to finish."""
    real = discord.Interaction(data=interaction.payload, state=bot._connection)
    try:
        await bot.tree._call(real)
    except app_commands.AppCommandError as error:
        await bot.tree._dispatch_error(real, error)


async def click(
    fake: FakeDiscord, bot: CorpusBot, message: dict[str, Any], label: str, user_id: int
) -> Sent:
    """Press the button labelled ``label`` (or with that emoji) and return the reply."""
    custom_id = button(message, label)["custom_id"]
    interaction = fake.click(message, custom_id, user_id)
    bot._connection.parse_interaction_create(interaction.payload)  # as the gateway would
    return await fake.wait_reply(interaction)


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for row in message["components"]:
        for item in row["components"]:
            if item.get("label") == label or (item.get("emoji") or {}).get("name") == label:
                return item
    raise AssertionError(f"no {label!r} button in {message['components']}")


def assert_no_pings(fake: FakeDiscord) -> None:
    """Every message-bearing request carried allowed_mentions with nothing to parse."""
    bodies = [s.data for s in fake.sent if s.kind != "delete" and s.callback_type != 8]
    assert bodies
    for data in bodies:
        if "content" in data or "embeds" in data:
            assert data.get("allowed_mentions", {}).get("parse") == [], data


# ---------------------------------------------------------------------------- sync payload


def test_sync_payload_has_bounds_and_autocomplete(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        commands = {c["name"]: c for c in fake.synced[GUILD_ID]}
        assert set(commands) == {"ask", "source", "about", "corpus"}
        for cmd in commands.values():
            assert 1 <= len(cmd["description"]) <= 100
        (question,) = commands["ask"]["options"]
        assert question["name"] == "question" and question["type"] == 3
        assert question["required"] is True
        assert (question["min_length"], question["max_length"]) == (1, 300)
        (article,) = commands["source"]["options"]
        assert article["type"] == 3 and article["autocomplete"] is True
        assert commands["about"].get("options", []) == []

    run(scenario, corpus)


# ---------------------------------------------------------------------------- /ask


def test_ask_defers_then_quotes_and_cites(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        ask = fake.slash("ask", 1, question=SEED_QUESTION)
        await invoke(bot, ask)
        defer, answer = fake.sent_for(ask.token)
        assert defer.callback_type == DEFERRED_CHANNEL_MESSAGE
        assert answer.kind == "followup" and not answer.ephemeral
        (embed,) = answer.embeds
        assert SEED_QUOTE in embed["description"]
        assert embed["description"].startswith("**[1]** “")
        sources = embed["fields"][0]
        assert sources["name"] == "Sources"
        assert SEED_CITATION in sources["value"]
        # Each cited article listed once, however many of its sentences are quoted.
        assert sources["value"].count("[1]") == 1
        labels = [b.get("label") or b["emoji"]["name"] for b in answer.buttons()]
        assert labels[:4] == ["Context", "More", "👍", "👎"]
        assert "Source [1]" in labels
        assert len(embed["description"]) <= 4096
        assert_no_pings(fake)

    run(scenario, corpus)


def test_ask_not_found_is_a_helpful_answer(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        ask = fake.slash("ask", 2, question="zebra quantum chromodynamics")
        await invoke(bot, ask)
        reply = fake.sent_for(ask.token)[-1]
        (embed,) = reply.embeds
        assert embed["title"] == "Not found in the corpus"
        assert "zebra" in embed["description"]  # what was searched
        assert "/source" in embed["description"]  # a hint
        assert reply.buttons() == []

    run(scenario, corpus)


@pytest.mark.parametrize("question", ["", "   ", "x" * 301])
def test_ask_out_of_bounds_payload_is_refused_kindly(corpus: Corpus, question: str) -> None:
    # Discord enforces 1–300 in its client; a crafted payload still gets a clear answer.
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        ask = fake.slash("ask", 3, question=question)
        await invoke(bot, ask)
        (reply,) = fake.sent_for(ask.token)
        assert reply.callback_type == CHANNEL_MESSAGE and reply.ephemeral
        assert "1–300 characters" in reply.text

    run(scenario, corpus)


def test_ask_accepts_exactly_300_characters(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        question = ("Kazakhstan tourism " * 20)[:300]
        ask = fake.slash("ask", 4, question=question)
        await invoke(bot, ask)
        assert fake.sent_for(ask.token)[0].callback_type == DEFERRED_CHANNEL_MESSAGE
        assert SEED_QUOTE[:40] in fake.sent_for(ask.token)[-1].text

    run(scenario, corpus)


def test_ask_cooldown_is_per_user_and_ephemeral(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        for _ in range(3):
            await invoke(bot, fake.slash("ask", 5, question="Kazakhstan"))
        blocked = fake.slash("ask", 5, question="Kazakhstan")
        await invoke(bot, blocked)
        (reply,) = fake.sent_for(blocked.token)
        assert reply.ephemeral and "Please wait" in reply.text and " s " in reply.text
        other = fake.slash("ask", 6, question="Kazakhstan")  # another person is not slowed
        await invoke(bot, other)
        assert fake.sent_for(other.token)[0].callback_type == DEFERRED_CHANNEL_MESSAGE

    run(scenario, corpus)


def test_question_markdown_and_mentions_are_inert(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        question = "@everyone **Kazakhstan** <@123456789012345678> [tourism](http://x.y) __2017__?"
        ask = fake.slash("ask", 7, question=question)
        await invoke(bot, ask)
        reply = fake.sent_for(ask.token)[-1]
        title = reply.embeds[0]["title"]
        assert "@everyone" not in title and "@\u200beveryone" in title
        assert "<@123456789012345678>" not in title
        assert r"\*\*Kazakhstan\*\*" in title and r"\_\_2017\_\_" in title
        assert r"\[tourism](" in title  # the masked link is escaped, so shown literally
        assert_no_pings(fake)

    run(scenario, corpus)


def test_unexpected_error_apologises_and_logs_traceback(
    corpus: Corpus, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("scorer exploded")

    monkeypatch.setattr(corpus, "ask", broken)

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        ask = fake.slash("ask", 8, question="Kazakhstan")
        await invoke(bot, ask)
        reply = fake.sent_for(ask.token)[-1]
        assert reply.kind == "followup" and reply.text == APOLOGY

    with caplog.at_level(logging.ERROR, logger="corpusbot.bot"):
        run(scenario, corpus)
    (record,) = [r for r in caplog.records if r.name == "corpusbot.bot"]
    assert record.exc_info and "scorer exploded" in str(record.exc_info[1])


def test_corpus_error_is_shown_as_its_one_line(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*args: Any, **kwargs: Any) -> None:
        raise StoreError("data/corpus.db is busy or read-only (database is locked)")

    monkeypatch.setattr(corpus, "stats", locked)

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        about = fake.slash("about", 9)
        await invoke(bot, about)
        (reply,) = fake.sent_for(about.token)
        assert reply.ephemeral and reply.text.startswith("data/corpus.db is busy")

    run(scenario, corpus)


# ---------------------------------------------------------------------------- buttons


def test_answer_buttons_context_more_source_feedback(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        ask = fake.slash("ask", 10, question=SEED_QUESTION)
        await invoke(bot, ask)
        message = fake.sent_for(ask.token)[-1].message
        assert message is not None

        context = await click(fake, bot, message, "Context", 11)  # anyone may press
        assert context.ephemeral and context.embeds[0]["title"] == "Context"
        assert f"**{SEED_QUOTE}" in context.embeds[0]["description"]

        # The seed question has no further results: More is there but disabled.
        assert button(message, "More")["disabled"] is bool(not corpus.ask(SEED_QUESTION).has_more)
        broad = fake.slash("ask", 14, question=BROAD_QUESTION)
        await invoke(bot, broad)
        broad_message = fake.sent_for(broad.token)[-1].message
        assert broad_message is not None and not button(broad_message, "More")["disabled"]
        more = await click(fake, bot, broad_message, "More", 10)
        assert more.ephemeral
        assert "results 4–" in more.embeds[0]["footer"]["text"]

        source = await click(fake, bot, message, "Source [1]", 12)
        assert source.ephemeral
        assert source.embeds[0]["title"] == "President Xi’s visit cements China-Kazakhstan ties"
        ((name, content),) = source.files
        assert name.endswith(".txt") and SEED_QUOTE.encode() in content

        up = await click(fake, bot, message, "👍", 10)
        down = await click(fake, bot, message, "👎", 13)
        assert up.ephemeral and "recorded" in up.text and down.ephemeral
        assert_no_pings(fake)

    run(scenario, corpus)
    with sqlite3.connect(corpus.path) as db:
        rows = db.execute("select user_id, question, sentence_ids, vote from feedback").fetchall()
    assert sorted(r[3] for r in rows) == [-1, 1]
    assert {r[0] for r in rows} == {"10", "13"}
    assert all(r[1] == SEED_QUESTION and r[2].startswith("[") for r in rows)


# ---------------------------------------------------------------------------- /source


def test_source_autocomplete_offers_at_most_25_titles(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        empty = fake.autocomplete("source", "article", "", 20)
        await invoke(bot, empty)
        (reply,) = fake.sent_for(empty.token)
        choices = reply.body["data"]["choices"]
        assert 1 <= len(choices) <= 25
        assert all(1 <= len(c["name"]) <= 100 and c["value"].isdigit() for c in choices)

        typed = fake.autocomplete("source", "article", "Zhejiang", 20)
        await invoke(bot, typed)
        names = [c["name"] for c in fake.sent_for(typed.token)[0].body["data"]["choices"]]
        assert names and names[0].startswith("Zhejiang seeks cooperation at Astana Expo")

    run(scenario, corpus)


def test_source_pages_only_for_the_invoker_and_attaches_text(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "PAGER_TIMEOUT", 0.5)
    longest = max(corpus.articles(), key=lambda a: len(corpus.article_text(a.id)))

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        source = fake.slash("source", 30, article=str(longest.id))
        await invoke(bot, source)
        (reply,) = fake.sent_for(source.token)
        assert reply.callback_type == CHANNEL_MESSAGE and not reply.ephemeral
        assert reply.embeds[0]["footer"]["text"].startswith("Page 1/2")
        ((_name, content),) = reply.files
        assert content.decode() == corpus.article_text(longest.id)
        message = reply.message
        assert message is not None
        assert button(message, "Previous")["disabled"] is True

        stranger = await click(fake, bot, message, "Next", 31)
        assert stranger.ephemeral and "Only the person" in stranger.text

        turned = await click(fake, bot, message, "Next", 30)
        assert turned.callback_type == UPDATE_MESSAGE
        assert turned.embeds[0]["footer"]["text"].startswith("Page 2/2")
        assert button(turned.message or {}, "Next")["disabled"] is True

        # On timeout the pager edits its message to drop the buttons.
        removed = await fake.wait_for(
            lambda: [s for s in fake.sent_for(source.token) if s.kind == "edit"]
        )
        assert removed[0].message and removed[0].message["components"] == []

    run(scenario, corpus)


def test_source_by_title_words(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        source = fake.slash("source", 32, article="Zhejiang seeks cooperation at Astana Expo")
        await invoke(bot, source)
        (reply,) = fake.sent_for(source.token)
        assert reply.embeds[0]["title"] == "Zhejiang seeks cooperation at Astana Expo"

    run(scenario, corpus)


def test_source_unknown_lists_close_matches_ephemerally(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        nothing = fake.slash("source", 33, article="xyzzy plugh")
        await invoke(bot, nothing)
        (reply,) = fake.sent_for(nothing.token)
        assert reply.ephemeral and "No article matches" in reply.text

        vague = fake.slash("source", 33, article="Expo")
        await invoke(bot, vague)
        (reply,) = fake.sent_for(vague.token)
        match = corpus.find_source("Expo")
        if match.found:
            assert reply.embeds and not reply.ephemeral
        else:
            assert reply.ephemeral and "Close matches" in reply.text

    run(scenario, corpus)


# ---------------------------------------------------------------------------- /about


def test_about_counts_articles_and_sentences(corpus: Corpus) -> None:
    stats = corpus.stats()

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        about = fake.slash("about", 40)
        await invoke(bot, about)
        (reply,) = fake.sent_for(about.token)
        fields = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
        assert fields["Articles"] == f"{stats.articles:,}"
        assert fields["Sentences"] == f"{stats.sentences:,}"
        assert fields["Re-ranker"] == "wordllama"
        assert "/ask" in fields["How to ask"]

    run(scenario, corpus)
