"""In-process tests: real ``discord.Interaction`` objects through the real ``CommandTree``.

The bot logs in against a :class:`FakeDiscord` served in the test's own event loop (so
interaction callbacks and follow-ups are real HTTP requests we can inspect), and uses the
real Corpus and question log on a temporary SQLite file built from ``seeds/`` plus two
articles of :mod:`tests.discord_articles`. Commands are invoked the way discord.py's own
tests do (``tree._call``); clicks, menu choices and form submissions go through the
connection state exactly as a gateway ``INTERACTION_CREATE`` would.

Discord's documented limits are written here (from Discord's API documentation), not
imported from the renderer, so a wrong constant there cannot make these tests pass.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands

from bot import translator, views
from bot.app import APOLOGY, UNAVAILABLE, CorpusBot
from retrieval.corpus import Corpus
from retrieval.errors import StoreError
from retrieval.querylog import QueryLog
from tests.conftest import SEEDS
from tests.discord_articles import FERRY_TITLE, FERRY_URL, write_extra_articles
from tests.fakediscord import (
    BUTTON,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE,
    GUILD_ID,
    MODAL,
    STRING_SELECT,
    UPDATE_MESSAGE,
    FakeDiscord,
    Interaction,
    Sent,
)

pytestmark = pytest.mark.unit

TOKEN = "inprocess-token"
SEED_QUESTION = "Which tourism year was launched in Kazakhstan in 2017?"
SEED_QUOTE = "The China Tourism Year that has been launched in Kazakhstan in 2017"
BROAD_QUESTION = "China Kazakhstan cooperation"  # quotes from two articles, more than one page
SEED_TITLE = "President Xi’s visit cements China-Kazakhstan ties"

# Discord's limits (API documentation: message, embed, component and command objects).
CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT, EMBED_DESCRIPTION_LIMIT = 256, 4096
FIELDS_LIMIT, FIELD_NAME_LIMIT, FIELD_VALUE_LIMIT = 25, 256, 1024
FOOTER_LIMIT, EMBED_TOTAL_LIMIT, EMBEDS_PER_MESSAGE = 2048, 6000, 10
CUSTOM_ID_LIMIT, BUTTON_LABEL_LIMIT, BUTTONS_PER_ROW, ROWS_LIMIT = 100, 80, 5, 5
BUTTON_URL_LIMIT = 512
SELECT_OPTIONS_LIMIT, OPTION_TEXT_LIMIT = 25, 100
CHOICES_LIMIT, CHOICE_NAME_LIMIT = 25, 100
COMMAND_NAME_LIMIT, COMMAND_DESCRIPTION_LIMIT = 32, 100
EPHEMERAL = 1 << 6
LINK_STYLE = 5
CONTEXT_GUILD, CONTEXT_BOT_DM, INSTALL_GUILD = 0, 1, 0


@pytest.fixture(scope="session")
def built_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store built from seeds/ and the extra articles; tests work on copies of it."""
    extra = write_extra_articles(tmp_path_factory.mktemp("extra-articles"))
    path = tmp_path_factory.mktemp("bot-store") / "corpus.db"
    with Corpus.create(path) as corpus:
        corpus.ingest([SEEDS, extra])
    return path


@pytest.fixture
def corpus(built_db: Path, tmp_path: Path) -> Any:
    path = tmp_path / "corpus.db"
    shutil.copy(built_db, path)
    corpus = Corpus.open(path, create=False)
    assert corpus.reranker is not None  # loaded now, as `corpusbot serve` does at start
    yield corpus
    corpus.close()


@pytest.fixture(autouse=True)
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers found in milliseconds count as fast even on a busy test machine: these tests
    check which response comes first, not the threshold (``slow_ask`` lowers it)."""
    monkeypatch.setattr(views, "ANSWER_WITHIN", 2.5)


@asynccontextmanager
async def running(
    corpus: Corpus, *, log_questions: bool = True
) -> AsyncIterator[tuple[FakeDiscord, CorpusBot]]:
    """A logged-in bot (commands synced to the fake guild) and the fake it talks to."""
    fake = FakeDiscord(token=TOKEN)
    await fake.start()
    old_base = discord.http.Route.BASE
    discord.http.Route.BASE = fake.api_base
    querylog = QueryLog(corpus.path, enabled=log_questions)
    bot = CorpusBot(corpus, query_log=querylog, guild_id=GUILD_ID, sync=True)
    try:
        await bot.login(TOKEN)  # GET /users/@me, application info, setup_hook (cog + sync)
        yield fake, bot
    finally:
        await bot.close()
        querylog.close()
        discord.http.Route.BASE = old_base
        await fake.stop()


def run(
    scenario: Callable[[FakeDiscord, CorpusBot], Awaitable[None]],
    corpus: Corpus,
    **options: Any,
) -> None:
    async def main() -> None:
        async with running(corpus, **options) as (fake, bot):
            await scenario(fake, bot)

    asyncio.run(main())


async def invoke(fake: FakeDiscord, bot: CorpusBot, interaction: Interaction) -> list[Sent]:
    """Run a command/autocomplete interaction through the tree; what it sent, in order."""
    real = discord.Interaction(data=interaction.payload, state=bot._connection)
    try:
        await bot.tree._call(real)
    except app_commands.AppCommandError as error:
        await bot.tree._dispatch_error(real, error)
    return fake.sent_for(interaction.token)


async def dispatch(fake: FakeDiscord, bot: CorpusBot, interaction: Interaction) -> Sent:
    """Deliver a component or modal interaction as the gateway would; its reply."""
    bot._connection.parse_interaction_create(interaction.payload)
    return await fake.wait_reply(interaction)


async def click(
    fake: FakeDiscord, bot: CorpusBot, message: dict[str, Any], label: str, user_id: int
) -> Sent:
    """Press the button labelled ``label`` and return the reply."""
    return await dispatch(
        fake, bot, fake.click(message, button(message, label)["custom_id"], user_id)
    )


async def settled(fake: FakeDiscord, token: str, count: int) -> list[Sent]:
    """The requests of one interaction once there are ``count`` of them."""
    return await fake.wait_for(lambda: len(fake.sent_for(token)) >= count and fake.sent_for(token))


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for row in message["components"]:
        for item in row["components"]:
            if item.get("label") == label:
                return item
    raise AssertionError(f"no {label!r} button in {message['components']}")


def numbered(hits: Any) -> dict[int, int]:
    """Article id → citation number, 1, 2, … in order of first appearance."""
    return {a: n for n, a in enumerate(dict.fromkeys(h.article.id for h in hits), start=1)}


def unbold(text: str) -> str:
    """``text`` as read, without the bold marks around the question's words."""
    return text.replace("**", "")


def labels(message: dict[str, Any]) -> list[str]:
    return [c.get("label") for row in message["components"] for c in row["components"]]


def assert_within_discord_limits(data: dict[str, Any]) -> None:
    """A message body (callback data or webhook body) as Discord would accept it."""
    assert len(data.get("content") or "") <= CONTENT_LIMIT
    embeds = data.get("embeds") or []
    assert len(embeds) <= EMBEDS_PER_MESSAGE
    total = 0
    for embed in embeds:
        title, description = embed.get("title", ""), embed.get("description", "")
        assert len(title) <= EMBED_TITLE_LIMIT and len(description) <= EMBED_DESCRIPTION_LIMIT
        fields = embed.get("fields", [])
        assert len(fields) <= FIELDS_LIMIT
        for field in fields:
            assert 1 <= len(field["name"]) <= FIELD_NAME_LIMIT
            assert 1 <= len(field["value"]) <= FIELD_VALUE_LIMIT
        footer = (embed.get("footer") or {}).get("text", "")
        assert len(footer) <= FOOTER_LIMIT
        total += len(title) + len(description) + len(footer)
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
    assert total <= EMBED_TOTAL_LIMIT
    rows = data.get("components") or []
    assert len(rows) <= ROWS_LIMIT
    custom_ids = []
    for row in rows:
        assert len(row["components"]) <= BUTTONS_PER_ROW
        for item in row["components"]:
            if item["type"] == BUTTON:
                assert len(item.get("label", "")) <= BUTTON_LABEL_LIMIT
                if item.get("style") == LINK_STYLE:
                    assert item["url"].startswith("https://") and "custom_id" not in item
                    assert len(item["url"]) <= BUTTON_URL_LIMIT
                    continue
            if item["type"] == STRING_SELECT:
                assert 1 <= len(item["options"]) <= SELECT_OPTIONS_LIMIT
                for option in item["options"]:
                    assert 1 <= len(option["label"]) <= OPTION_TEXT_LIMIT
                    assert len(option.get("description") or "") <= OPTION_TEXT_LIMIT
            assert 1 <= len(item["custom_id"]) <= CUSTOM_ID_LIMIT
            custom_ids.append(item["custom_id"])
    assert len(custom_ids) == len(set(custom_ids))  # unique within a message


def assert_sane(fake: FakeDiscord) -> None:
    """Every message the bot sent fits Discord's limits and cannot ping anyone."""
    bodies = [s.data for s in fake.sent if s.kind != "delete" and s.callback_type not in (8, 9)]
    assert bodies
    for data in bodies:
        assert_within_discord_limits(data)
        if "content" in data or "embeds" in data:
            assert data.get("allowed_mentions", {}).get("parse") == [], data


# ---------------------------------------------------------------------------- sync payload


def test_sync_payload_declares_bounds_contexts_and_installs(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        commands = {c["name"]: c for c in fake.synced[GUILD_ID]}
        # /corpus is the admins' group (bot/admin.py): servers only, not these rules.
        assert set(commands) == {"ask", "source", "help", "about", "corpus"}
        for cmd in (commands[name] for name in ("ask", "source", "help", "about")):
            assert 1 <= len(cmd["name"]) <= COMMAND_NAME_LIMIT
            assert 1 <= len(cmd["description"]) <= COMMAND_DESCRIPTION_LIMIT
            # Servers and DMs with the bot, for a bot installed to a server.
            assert sorted(cmd["contexts"]) == [CONTEXT_GUILD, CONTEXT_BOT_DM]
            assert cmd["integration_types"] == [INSTALL_GUILD]
        question, within = commands["ask"]["options"]
        assert question["name"] == "question" and question["type"] == 3
        assert question["required"] is True
        assert (question["min_length"], question["max_length"]) == (1, 300)
        assert within["name"] == "article" and within["type"] == 3
        assert within["required"] is False and within["autocomplete"] is True
        assert 1 <= len(within["description"]) <= 100
        article, public = commands["source"]["options"]
        assert article["type"] == 3 and article["autocomplete"] is True
        assert public["name"] == "public" and public["type"] == 5 and not public["required"]
        assert commands["about"].get("options", []) == []

    run(scenario, corpus)


def test_the_translator_hook_localises_names_and_descriptions(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # English only ships; a locale added to the table reaches Discord at the next sync.
    monkeypatch.setitem(
        translator.TRANSLATIONS,
        discord.Locale.french,
        {"ask": "demander", "Ask a question; get exact, cited sentences.": "Posez une question."},
    )

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        commands = {c["name"]: c for c in fake.synced[GUILD_ID]}
        assert commands["ask"]["name_localizations"] == {"fr": "demander"}
        assert commands["ask"]["description_localizations"] == {"fr": "Posez une question."}
        assert not commands["about"].get("description_localizations")

    run(scenario, corpus)


# ---------------------------------------------------------------------------- /ask


def test_a_fast_answer_is_the_first_response_quoted_and_grouped(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 1, question=SEED_QUESTION))
        # Found in milliseconds: answered in the first response, in the channel.
        assert reply.callback_type == CHANNEL_MESSAGE and not reply.ephemeral
        (embed,) = reply.embeds
        assert embed["title"] == SEED_QUESTION
        lead, source = embed["description"].split("\n")
        # The answer is a quote block, with the question's words bold, without added quotes.
        assert lead.startswith("> The China **Tourism Year** that has been **launched** in ")
        assert "**Kazakhstan** in **2017**" in lead and "“" not in lead
        assert source == f"— {SEED_TITLE} · Alwihda Info, 2017-06-07"  # one source: no [1]
        # The support (what else passed the relevance cut) is grouped under its source once.
        answer = corpus.ask(SEED_QUESTION)
        assert all(h.article.title == SEED_TITLE for h in answer.hits)
        if len(answer.hits) > 1:
            (support,) = embed["fields"]
            assert support["name"] == "Supporting quotes"
            assert support["value"].count(f"— {SEED_TITLE}") == 1
            lines = support["value"].split("\n")
            assert [line[:2] for line in lines] == ["> "] * (len(answer.hits) - 1) + ["— "]
        else:
            assert "fields" not in embed
        # No stems, no "results 1–3": nothing in the footer a person cannot act on.
        assert "footer" not in embed
        assert "Searched for" not in reply.text and "touri" not in reply.text.lower().replace(
            "tourism", ""
        )
        more = ["More"] if answer.has_more else []
        assert labels(reply.message) == [
            "👍 Helpful",
            "👎 Not helpful",
            "Context",
            *more,
            "Read the article",
        ]
        assert_sane(fake)

    run(scenario, corpus)


def test_a_misspelt_question_is_answered_and_the_footer_says_what_was_read(
    corpus: Corpus,
) -> None:
    typed = "which tourism year was launched in kazakstan in 2017"

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 1, question=typed))
        assert reply.callback_type == CHANNEL_MESSAGE and not reply.ephemeral
        (embed,) = reply.embeds
        assert embed["title"] == typed  # shown as typed
        assert embed["description"].startswith("> The China **Tourism Year** that has been")
        assert embed["footer"]["text"] == "Read “kazakstan” as “kazakhstan”."
        assert_sane(fake)

    run(scenario, corpus)


def test_two_sources_are_numbered_and_grouped(corpus: Corpus) -> None:
    answer = corpus.ask(BROAD_QUESTION)
    first, *rest = answer.hits
    numbers = numbered(answer.hits)
    assert len(numbers) >= 2  # quotes from two articles at least

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 1, question=BROAD_QUESTION))
        (embed,) = reply.embeds
        assert embed["description"].split("\n")[-1].startswith(f"— **[1]** {first.article.title}")
        value = embed["fields"][0]["value"]
        # One group a source: its quotes, then its source line, once.
        groups = value.split("\n\n")
        cited = list(dict.fromkeys(h.article.id for h in rest))
        assert len(groups) == len(cited)
        for group, article_id in zip(groups, cited, strict=True):
            *quotes, source = group.split("\n")
            count = sum(h.article.id == article_id for h in rest)
            assert len(quotes) == count and all(q.startswith("> ") for q in quotes)
            assert source.startswith(f"— **[{numbers[article_id]}]** ")
        for number in numbers.values():
            assert f"Read [{number}]" in labels(reply.message)

    run(scenario, corpus)


def test_an_article_with_a_url_is_linked_and_gets_a_link_button(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 1, question="Zanzibar ferry"))
        (embed,) = reply.embeds
        linked = FERRY_URL.replace("(", "%28").replace(")", "%29")
        assert f"[{FERRY_TITLE}]({linked}) · Island Times, 2017-05-02" in embed["description"]
        (link,) = [b for b in reply.buttons() if b.get("style") == LINK_STYLE]
        assert link["url"] == FERRY_URL and "custom_id" not in link  # needs no interaction
        assert_sane(fake)

    run(scenario, corpus)


def test_not_found_is_private_and_says_no_stems(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(
            fake, bot, fake.slash("ask", 2, question="zebra quantum chromodynamics")
        )
        assert reply.callback_type == CHANNEL_MESSAGE and reply.ephemeral
        (embed,) = reply.embeds
        assert embed["title"] == "Not found in the corpus"
        assert "zebra quantum chromodynamics" in embed["description"]
        assert "/source" in embed["description"] and "Searched for" not in embed["description"]
        assert reply.buttons() == []

    run(scenario, corpus)


def test_a_question_of_common_words_is_a_private_mistake(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 2, question="what is the"))
        assert reply.callback_type == CHANNEL_MESSAGE and reply.ephemeral
        assert reply.embeds[0]["title"] == "I can't search that"

    run(scenario, corpus)


PAGING_CANDIDATES = [
    "Zanzibar ferry",
    "Ding Yue",
    "Hunan",
    "Belt and Road",
    "Kazakhstan Expo",
    "Zhejiang",
    "Kazakhstan",
    "Jiangxi",
    "energy",
    "China Kazakhstan cooperation",
]


def pages_of(corpus: Corpus, question: str, k: int = 3) -> list[int]:
    """How many quotes each page of ``question`` shows, following More as the bot does."""
    pages, offset = [], 0
    while True:
        answer = corpus.ask(question, k=k, offset=offset)
        pages.append(len(answer.hits))
        if not answer.has_more or not answer.hits:
            return pages
        offset += len(answer.hits)


def question_with_pages(corpus: Corpus, low: int, high: int) -> tuple[str, list[int]]:
    """A question whose answer has ``low``–``high`` pages on this corpus (the relevance
    cut decides how many quotes pass, so the tests ask the corpus instead of assuming)."""
    for question in PAGING_CANDIDATES:
        pages = pages_of(corpus, question)
        if low <= len(pages) <= high:
            return question, pages
    raise AssertionError(f"no question with {low}–{high} pages among {PAGING_CANDIDATES}")


def slow_ask(corpus: Corpus, monkeypatch: pytest.MonkeyPatch, delay: float = 0.3) -> None:
    """Make every question take ``delay`` s, longer than the bot waits before deferring."""
    monkeypatch.setattr(views, "ANSWER_WITHIN", 0.05)
    ask = corpus.ask

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(delay)
        return ask(*args, **kwargs)

    monkeypatch.setattr(corpus, "ask", slow)


def test_a_slow_answer_defers_privately_then_posts_in_the_channel(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_ask(corpus, monkeypatch)

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        ask = fake.slash("ask", 3, question=SEED_QUESTION)
        await invoke(fake, bot, ask)
        defer, placeholder, answer, removed = await settled(fake, ask.token, 4)
        # "Thinking…" is private: if the answer had been "not found", nobody else saw it.
        assert defer.callback_type == DEFERRED_CHANNEL_MESSAGE and defer.ephemeral
        assert placeholder.kind == "edit" and placeholder.ephemeral
        assert answer.kind == "followup" and not answer.ephemeral
        assert SEED_QUOTE in unbold(answer.embeds[0]["description"])
        assert removed.kind == "delete" and removed.message["id"] == placeholder.message["id"]

    run(scenario, corpus)


def test_a_slow_not_found_stays_private(corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_ask(corpus, monkeypatch)

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        ask = fake.slash("ask", 3, question="zebra quantum chromodynamics")
        defer, reply = await invoke(fake, bot, ask)
        assert defer.ephemeral and reply.kind == "followup" and reply.ephemeral
        assert reply.embeds[0]["title"] == "Not found in the corpus"

    run(scenario, corpus)


def test_a_busy_bot_defers_first_and_searches_after(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "SEARCHES_AT_ONCE", 0)  # as if four searches were running
    searched_after: list[bool] = []
    ask = corpus.ask

    def watched(*args: Any, **kwargs: Any) -> Any:
        searched_after.append(bool(fake_ref[0].sent))  # was anything sent before the search?
        return ask(*args, **kwargs)

    monkeypatch.setattr(corpus, "ask", watched)
    fake_ref: list[FakeDiscord] = []

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        fake_ref.append(fake)
        fake.sent.clear()
        ask = fake.slash("ask", 3, question=SEED_QUESTION)
        await invoke(fake, bot, ask)
        defer, *_ = await settled(fake, ask.token, 4)
        assert defer.callback_type == DEFERRED_CHANNEL_MESSAGE and defer.ephemeral
        assert searched_after == [True]  # the deferral went out before the search began
        assert SEED_QUOTE in unbold(fake.answer(ask.token).embeds[0]["description"])

    run(scenario, corpus)


@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("   ", "Please type a question in words"),
        ("<@123456789012345678> @everyone <:wave:123456789012345678>", "Please type a question"),
        ("x" * 301, "at most 300 characters; yours has 301"),
    ],
)
def test_an_empty_or_too_long_question_is_refused_kindly(
    corpus: Corpus, question: str, says: str
) -> None:
    # Discord enforces 1–300 in its client; a crafted payload still gets a clear answer.
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 3, question=question))
        assert reply.callback_type == CHANNEL_MESSAGE and reply.ephemeral
        assert says in reply.text and "1–300" not in reply.text

    run(scenario, corpus)


def test_mentions_and_markdown_are_not_searched(corpus: Corpus) -> None:
    question = "@everyone **Jiangxi** <@123456789012345678> ||trade|| <#1234567> <:wave:1234567>?"

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 7, question=question))
        (embed,) = reply.embeds
        assert embed["title"] == "Jiangxi trade?"  # what was searched, as the person typed it
        assert "**Jiangxi" in embed["description"] and "**Trade" in embed["description"]
        assert_sane(fake)

    run(scenario, corpus)
    (asked,) = QueryLog(corpus.path).questions()
    assert asked.question == question and asked.status == "answered"  # the log keeps it as typed


def test_a_database_fault_is_private_and_generic(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    detail = f"database error in {corpus.path}: database disk image is malformed"

    def broken(*args: Any, **kwargs: Any) -> None:
        raise StoreError(detail)

    monkeypatch.setattr(corpus, "ask", broken)
    monkeypatch.setattr(corpus, "stats", broken)

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (asked,) = await invoke(fake, bot, fake.slash("ask", 8, question="Kazakhstan"))
        (about,) = await invoke(fake, bot, fake.slash("about", 8))
        for reply in (asked, about):
            assert reply.callback_type == CHANNEL_MESSAGE and reply.ephemeral
            assert reply.text == UNAVAILABLE and "malformed" not in reply.text

    with caplog.at_level(logging.WARNING, logger="corpusbot.bot"):
        run(scenario, corpus)
    assert any("disk image is malformed" in r.getMessage() for r in caplog.records)


def test_an_unexpected_error_apologises_privately_and_logs_the_traceback(
    corpus: Corpus, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("scorer exploded")

    monkeypatch.setattr(corpus, "ask", broken)

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 8, question="Kazakhstan"))
        assert reply.ephemeral and reply.text == APOLOGY

    with caplog.at_level(logging.ERROR, logger="corpusbot.bot"):
        run(scenario, corpus)
    (record,) = [r for r in caplog.records if r.name == "corpusbot.bot"]
    assert record.exc_info and "scorer exploded" in str(record.exc_info[1])


def test_the_cooldown_is_per_user_private_and_shared_with_more(corpus: Corpus) -> None:
    paged, _ = question_with_pages(corpus, 2, 100)

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (first,) = await invoke(fake, bot, fake.slash("ask", 5, question=paged))
        for _ in range(2):
            await invoke(fake, bot, fake.slash("ask", 5, question="Kazakhstan"))
        more = await click(fake, bot, first.message, "More", 5)  # a fourth question
        assert more.ephemeral and "Please wait" in more.text and " s " in more.text
        (blocked,) = await invoke(fake, bot, fake.slash("ask", 5, question="Kazakhstan"))
        assert blocked.ephemeral and "Please wait" in blocked.text
        (other,) = await invoke(fake, bot, fake.slash("ask", 6, question="Kazakhstan"))
        assert other.embeds and not other.ephemeral  # another person is not slowed

    run(scenario, corpus)


def test_ask_works_in_a_dm(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 9, guild=None, question=SEED_QUESTION))
        assert SEED_QUOTE in unbold(reply.embeds[0]["description"])
        up = await click(fake, bot, reply.message, "👍 Helpful", 9)
        assert up.ephemeral and "👍 Helpful" in up.text

    run(scenario, corpus)
    (asked,) = QueryLog(corpus.path).questions()
    assert asked.guild_id is None


# ---------------------------------------------------------------------------- buttons


def test_one_vote_per_person_with_an_optional_reason(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 10, question=SEED_QUESTION))
        message = reply.message
        up = await click(fake, bot, message, "👍 Helpful", 11)
        assert up.ephemeral and up.text == "Thanks! Your vote: 👍 Helpful."
        again = await click(fake, bot, message, "👍 Helpful", 11)
        assert again.text == "You already voted 👍 Helpful."
        down = await click(fake, bot, message, "👎 Not helpful", 11)
        assert down.ephemeral and down.text.startswith("Changed to 👎 Not helpful.")
        # The reason is optional: a button opens the form, nothing makes the person fill it.
        why = fake.click(down.message, button(down.message, "Say what was wrong")["custom_id"], 11)
        opened = await dispatch(fake, bot, why)
        assert opened.callback_type == MODAL
        assert bot._connection._view_store._modals == {}  # answered by its custom_id alone
        form = fake.modal(why.token)
        (row,) = form["components"]
        (field,) = row["components"]
        assert field["required"] is False and field["style"] == 2
        submitted = await dispatch(
            fake, bot, fake.submit(form["custom_id"], {field["custom_id"]: "Wrong year."}, 11)
        )
        assert submitted.ephemeral and "Thanks" in submitted.text
        other = await click(fake, bot, message, "👎 Not helpful", 12)
        assert other.text.startswith("Thanks! Your vote: 👎 Not helpful.")

    run(scenario, corpus)
    with sqlite3.connect(corpus.path) as db:
        votes = db.execute("select vote, reason from votes order by vote, reason").fetchall()
    assert votes == [(-1, None), (-1, "Wrong year.")]  # one row a person


def test_ask_about_an_opened_article_answers_within_it_privately(corpus: Corpus) -> None:
    zhejiang = corpus.find_source("Zhejiang seeks cooperation").article
    question = "what did they say about energy cooperation"

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (shown,) = await invoke(fake, bot, fake.slash("source", 40, article=str(zhejiang.id)))
        ask = fake.click(shown.message, button(shown.message, "Ask about it")["custom_id"], 41)
        opened = await dispatch(fake, bot, ask)
        assert opened.callback_type == MODAL
        assert bot._connection._view_store._modals == {}  # answered by its custom_id alone
        form = fake.modal(ask.token)
        assert form["custom_id"] == f"cb:askin:{zhejiang.id}"
        (row,) = form["components"]
        (field,) = row["components"]
        assert (field["min_length"], field["max_length"], field["required"]) == (1, 300, True)
        answer = await dispatch(
            fake, bot, fake.submit(form["custom_id"], {field["custom_id"]: question}, 41)
        )
        expected = corpus.ask(question, article_id=zhejiang.id)
        assert answer.ephemeral
        assert answer.embeds[0]["footer"]["text"] == f"Only in: {zhejiang.title}"
        assert expected.hits[0].sentence.text[:40] in unbold(answer.embeds[0]["description"])
        assert_within_discord_limits(answer.body["data"])
        blank = await dispatch(
            fake, bot, fake.submit(form["custom_id"], {field["custom_id"]: "<@123> **"}, 42)
        )
        assert blank.ephemeral and blank.text.startswith("Please type a question in words")

    run(scenario, corpus)
    with QueryLog(corpus.path) as qlog:
        logged = [a for a in qlog.questions() if a.question == question]
    assert [a.within_article for a in logged] == [zhejiang.id]


def test_context_merges_overlapping_passages(corpus: Corpus) -> None:
    answer = corpus.ask("Jiangxi trade")
    positions = sorted(h.sentence.position for h in answer.hits)
    assert positions[1] - positions[0] <= 2  # neighbours: their windows overlap

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 10, question="Jiangxi trade"))
        context = await click(fake, bot, reply.message, "Context", 11)  # anyone may press
        assert context.ephemeral and context.embeds[0]["title"] == "Context"
        description = context.embeds[0]["description"]
        for hit in answer.hits:
            assert description.count(hit.sentence.text[:40]) == 1  # each sentence once
        window = corpus.context(answer.hits[0].sentence.id)
        assert all(s.text[:40] in description for s in window)
        assert_sane(fake)

    run(scenario, corpus)


def test_more_pages_privately_in_place_and_stops_at_the_end(corpus: Corpus) -> None:
    question, pages = question_with_pages(corpus, 2, 3)  # within the 3-a-30-s limit
    first_page = corpus.ask(question)

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 20, question=question))
        message, shown = reply.message, pages[0]
        for number, size in enumerate(pages[1:], start=2):
            more = fake.click(message, button(message, "More")["custom_id"], 20)
            bot._connection.parse_interaction_create(more.payload)
            defer, page = await settled(fake, more.token, 2)
            # Deferred first (the search may be slow), privately; the first page replaces
            # "thinking…", a later one edits that same private message in place.
            if number == 2:
                assert defer.callback_type == DEFERRED_CHANNEL_MESSAGE and defer.ephemeral
                assert page.kind == "followup"
            else:
                assert defer.callback_type == DEFERRED_UPDATE
                assert page.kind == "edit" and page.message["id"] == message["id"]
            assert page.ephemeral
            (embed,) = page.embeds
            assert embed["footer"]["text"] == f"Quotes {shown + 1}–{shown + size}"
            message, shown = page.message, shown + size
        # The relevance cut says there is nothing after the last page: no More button.
        assert "More" not in labels(message)
        assert_sane(fake)

    assert first_page.has_more
    run(scenario, corpus)


def test_citation_numbers_carry_over_to_the_next_page(corpus: Corpus) -> None:
    def two_pages_two_sources(question: str) -> bool:
        first = corpus.ask(question)
        both = (*first.hits, *corpus.ask(question, offset=len(first.hits)).hits)
        return first.has_more and len({h.article.id for h in both}) > 1

    question = next(q for q in PAGING_CANDIDATES if two_pages_two_sources(q))
    first = corpus.ask(question)
    second = corpus.ask(question, offset=len(first.hits))
    numbers = numbered((*first.hits, *second.hits))
    on_page_2 = {h.article.id: h.article for h in second.hits}

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 21, question=question))
        more = fake.click(reply.message, button(reply.message, "More")["custom_id"], 21)
        bot._connection.parse_interaction_create(more.payload)
        _, page = await settled(fake, more.token, 2)
        (embed,) = page.embeds
        text = embed["description"] + "".join(f["value"] for f in embed.get("fields", []))
        shown = {int(n) for n in re.findall(r"\*\*\[(\d+)\]\*\*", text)}
        if set(on_page_2) == {first.hits[0].article.id}:
            assert shown == set()  # one source, and it is [1]: no number needed
        else:  # each article keeps the number it had, new ones go on from there
            assert shown == {numbers[a] for a in on_page_2}
            for article_id, article in on_page_2.items():
                assert f"**[{numbers[article_id]}]** {article.title}" in text

    run(scenario, corpus)


def test_buttons_never_time_out_and_no_view_is_kept_in_memory(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 23, question=SEED_QUESTION))
        (jiangxi,) = await invoke(fake, bot, fake.slash("source", 23, article="1"))
        await click(fake, bot, jiangxi.message, "Next", 23)
        store = bot._connection._view_store
        # Every button is matched by its custom_id's pattern: nothing waits on a timer,
        # nothing per message stays in memory, and a click after any delay is served.
        assert store._views == {} and store._synced_message_views == {}
        assert len(store._dynamic_items) == len(views.PERSISTENT_ITEMS)
        later = await click(fake, bot, reply.message, "Context", 24)
        assert later.embeds[0]["title"] == "Context"

    run(scenario, corpus)


def test_a_question_about_this_study_offers_only_in_each_cited_article(corpus: Corpus) -> None:
    question = "what did this study find about energy in Kazakhstan"
    expected = corpus.ask(question)
    numbers = numbered(expected.hits)
    assert expected.unnamed_article and len(numbers) > 1

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 25, question=question))
        assert not reply.ephemeral
        assert reply.embeds[0]["footer"]["text"].startswith("Asking about one article")
        assert_within_discord_limits(reply.body["data"])
        only = [label for label in labels(reply.message) if label.startswith("Only in")]
        assert only == [f"Only in [{n}]" for n in numbers.values()]
        rows = [
            [c.get("label", "") for c in row["components"]] for row in reply.message["components"]
        ]
        assert [r for r in rows if any(x.startswith("Only in") for x in r)] == [only]  # one row
        assert len(rows) <= ROWS_LIMIT
        article_id, number = list(numbers.items())[1]
        scoped = await click(fake, bot, reply.message, f"Only in [{number}]", 26)
        assert scoped.ephemeral
        title = corpus.store.article(article_id).title
        assert scoped.embeds[0]["footer"]["text"] == f"Only in: {title}"
        within = corpus.ask(question, article_id=article_id)
        assert within.hits[0].sentence.text[:40] in unbold(scoped.embeds[0]["description"])
        assert not any(label.startswith("Only in") for label in labels(scoped.message))

    run(scenario, corpus)


def test_with_the_log_off_answers_offer_no_votes_and_no_more(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("ask", 22, question=BROAD_QUESTION))
        numbers = numbered(corpus.ask(BROAD_QUESTION).hits).values()
        assert labels(reply.message) == ["Context", *(f"Read [{n}]" for n in numbers)]
        context = await click(fake, bot, reply.message, "Context", 22)
        assert context.ephemeral and context.embeds[0]["title"] == "Context"

    run(scenario, corpus, log_questions=False)
    with sqlite3.connect(corpus.path) as db:
        assert not db.execute("select name from sqlite_master where name = 'questions'").fetchall()


# ---------------------------------------------------------------------------- /source


def test_source_autocomplete_offers_at_most_25_titles(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.autocomplete("source", "article", "", 20))
        choices = reply.body["data"]["choices"]
        assert 1 <= len(choices) <= CHOICES_LIMIT
        assert all(1 <= len(c["name"]) <= CHOICE_NAME_LIMIT for c in choices)
        assert all(c["value"].isdigit() for c in choices)
        (typed,) = await invoke(fake, bot, fake.autocomplete("source", "article", "Zhejiang", 20))
        names = [c["name"] for c in typed.body["data"]["choices"]]
        assert names and names[0].startswith("Zhejiang seeks cooperation at Astana Expo")

    run(scenario, corpus)


def test_autocomplete_during_a_database_fault_offers_nothing_quietly(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise StoreError(f"database error in {corpus.path}: database disk image is malformed")

    monkeypatch.setattr(corpus, "suggest", broken)

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.autocomplete("source", "article", "Expo", 20))
        assert reply.callback_type == 8 and reply.body["data"]["choices"] == []

    with caplog.at_level(logging.DEBUG):
        run(scenario, corpus)
    assert not [r for r in caplog.records if r.exc_info]  # no traceback anywhere
    assert any("autocomplete unavailable" in r.getMessage() for r in caplog.records)


def test_source_is_private_with_cleaned_pages_and_a_share_button(corpus: Corpus) -> None:
    (zhejiang,) = [a for a in corpus.articles() if a.title.startswith("Zhejiang")]
    (jiangxi,) = [a for a in corpus.articles() if a.title.startswith("Jiangxi")]
    boilerplate = ["Home> Media Center> Latest News> Province News", "Liang Liming (right)"]
    raw = corpus.article_text(zhejiang.id)
    assert all(b in raw for b in boilerplate) and raw.count(zhejiang.title) >= 2

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (clean,) = await invoke(fake, bot, fake.slash("source", 30, article=str(zhejiang.id)))
        assert clean.callback_type == CHANNEL_MESSAGE and clean.ephemeral
        (page,) = clean.embeds
        assert page["title"] == zhejiang.title
        # No navigation, no repeated headline, no photo caption: the body only.
        assert not any(b in page["description"] for b in boilerplate)
        assert zhejiang.title not in page["description"]
        ((_, content),) = clean.files  # the stored text differs: attached as it is
        assert content.decode() == raw
        assert labels(clean.message) == ["Ask about it", "Share in channel"]

        (reply,) = await invoke(fake, bot, fake.slash("source", 30, article=str(jiangxi.id)))
        assert reply.ephemeral
        assert reply.embeds[0]["footer"]["text"].startswith("Page 1/2")
        ((name, _),) = reply.files
        # Cut between words, never inside "2017".
        assert name == "1-jiangxi-showcases-clean-energy-and-culture-at-expo-astana.txt"
        assert labels(reply.message) == [
            "Previous",
            "1/2",
            "Next",
            "Ask about it",
            "Share in channel",
        ]

        turned = await click(fake, bot, reply.message, "Next", 30)
        assert turned.callback_type == UPDATE_MESSAGE
        assert turned.embeds[0]["footer"]["text"].startswith("Page 2/2")
        assert button(turned.message, "Next")["disabled"] is True

        shared = await click(fake, bot, reply.message, "Share in channel", 30)
        assert shared.callback_type == CHANNEL_MESSAGE and not shared.ephemeral
        assert shared.embeds[0]["title"] == jiangxi.title and shared.files
        assert "Share in channel" not in labels(shared.message)
        stranger = await click(fake, bot, shared.message, "Next", 31)
        assert stranger.ephemeral and "Only the person" in stranger.text
        assert_sane(fake)

    run(scenario, corpus)


def test_source_public_option_a_single_page_and_no_duplicate_text(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("source", 32, article="Mombasa", public=True))
        assert not reply.ephemeral
        (page,) = reply.embeds
        assert page["title"] == "Mombasa port cargo record"
        assert "Page" not in page.get("footer", {}).get("text", "")  # no "Page 1/1"
        assert reply.files == []  # the stored text is what the page shows: not attached
        assert labels(reply.message) == ["Ask about it"]  # anyone may ask; nothing to share

        (ferry,) = await invoke(fake, bot, fake.slash("source", 32, article=FERRY_TITLE))
        assert ferry.ephemeral and ferry.embeds[0]["url"] == FERRY_URL
        (link,) = [b for b in ferry.buttons() if b.get("style") == LINK_STYLE]
        assert link["url"] == FERRY_URL

    run(scenario, corpus)


def test_an_ambiguous_name_offers_a_menu(corpus: Corpus) -> None:
    match = corpus.find_source("Astana Expo")
    assert not match.found and len(match.candidates) >= 2

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("source", 33, article="Astana Expo"))
        assert reply.ephemeral and reply.text == "Several articles match — pick one."
        assert "No article matches" not in reply.text and "(id " not in reply.text
        (menu,) = reply.components()
        assert menu["type"] == STRING_SELECT
        assert [o["value"] for o in menu["options"]] == [str(a.id) for a in match.candidates]
        chosen = match.candidates[1]
        picked = await dispatch(
            fake, bot, fake.choose(reply.message, menu["custom_id"], [str(chosen.id)], 33)
        )
        # The menu's own private message becomes the article.
        assert picked.callback_type == UPDATE_MESSAGE and picked.ephemeral
        assert picked.embeds[0]["title"] == chosen.title and picked.message["content"] == ""

        (nothing,) = await invoke(fake, bot, fake.slash("source", 33, article="xyzzy plugh"))
        assert nothing.ephemeral and "No article matches" in nothing.text
        assert_sane(fake)

    run(scenario, corpus)


def test_source_works_in_a_dm(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("source", 34, guild=None, article="Mombasa"))
        assert reply.embeds[0]["title"] == "Mombasa port cargo record"

    run(scenario, corpus)


# ---------------------------------------------------------------------------- /help, /about


def test_help_is_private_with_clickable_commands(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        ids = {c["name"]: c["id"] for c in fake.synced[GUILD_ID]}
        for guild in (GUILD_ID, None):  # in a server and in a DM
            (reply,) = await invoke(fake, bot, fake.slash("help", 40, guild=guild))
            assert reply.ephemeral
            text = reply.embeds[0]["description"]
            for name in ("ask", "source", "about"):
                assert f"</{name}:{ids[name]}>" in text

    run(scenario, corpus)


def test_about_is_private_without_internals(corpus: Corpus) -> None:
    stats = corpus.stats()

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (reply,) = await invoke(fake, bot, fake.slash("about", 41))
        assert reply.ephemeral
        fields = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
        assert fields["Articles"] == f"{stats.articles:,}"
        assert fields["Sentences"] == f"{stats.sentences:,}"
        assert "Re-ranker" not in fields and "wordllama" not in reply.text.lower()

    run(scenario, corpus)
