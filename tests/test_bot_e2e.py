"""End to end: the real bot in a subprocess (``python -m bot --sync``) against a fake Discord.

The fake (REST + gateway websocket, :mod:`tests.fakediscord`) runs on 127.0.0.1 in a
thread of the test process; the bot finds it through ``DISCORD_API_BASE`` and
``DISCORD_GATEWAY_URL``, exactly as it would find any Discord-compatible endpoint. The bot
uses a temporary copy of a store built from ``seeds/``. Nothing here needs a network or a
real token, and nothing asserts on elapsed time: waits are deadlines for events.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from retrieval.corpus import Corpus
from tests.fakediscord import (
    CHANNEL_MESSAGE,
    GUILD_ID,
    UPDATE_MESSAGE,
    FakeDiscord,
    Interaction,
    Sent,
    ThreadedFake,
)
from tests.test_bot_commands import question_with_pages

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "FAKE.e2e-token.never-logged-7f3a9c"
HEARTBEAT = 0.25  # seconds: short, so "keeps heartbeating while busy" shows up quickly
SEED_QUESTION = "Which tourism year was launched in Kazakhstan in 2017?"
SEED_QUOTE = "The China Tourism Year that has been launched in Kazakhstan in 2017"
SEED_TITLE = "President Xi’s visit cements China-Kazakhstan ties"
SEED_SOURCE = f"{SEED_TITLE} · Alwihda Info, 2017-06-07"
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content


@dataclass
class Live:
    fake: FakeDiscord
    thread: ThreadedFake
    proc: subprocess.Popen[bytes]
    db: Path
    log: Path

    def send(self, interaction: Interaction) -> Interaction:
        return self.thread.run(self.fake.send(interaction))

    def reply(self, interaction: Interaction, timeout: float = 20.0) -> Sent:
        """The first message-bearing response (past a bare deferral)."""
        return self.thread.run(self.fake.wait_reply(interaction, timeout), timeout + 5)

    def answer(self, interaction: Interaction, timeout: float = 20.0) -> Sent:
        """The first response with embeds (past a deferral and a private placeholder)."""
        return self.thread.run(self.fake.wait_answer(interaction, timeout), timeout + 5)

    def wait(self, predicate: Any, timeout: float = 20.0) -> Any:
        return self.thread.run(self.fake.wait_for(predicate, timeout), timeout + 5)

    def call(self, fn: Any) -> Any:
        """Read the fake's state on its own loop."""
        return self.thread.call(fn)

    def ask(self, question: str, user_id: int, **where: Any) -> Sent:
        """``/ask`` and its answer (or the private refusal when there is no answer)."""
        interaction = self.send(self.fake.slash("ask", user_id, question=question, **where))
        reply = self.reply(interaction)
        if reply.embeds or reply.kind != "edit":
            return reply
        return self.answer(interaction)  # past the private "Here is your answer." note

    def click(self, message: dict[str, Any], label: str, user_id: int) -> Sent:
        custom_id = button(message, label)["custom_id"]
        return self.reply(self.send(self.fake.click(message, custom_id, user_id)))


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for row in message["components"]:
        for item in row["components"]:
            if item.get("label") == label:
                return item
    raise AssertionError(f"no {label!r} button in {message['components']}")


def unbold(text: str) -> str:
    """Text as read, without the bold marks around the question's words."""
    return text.replace("**", "")


def bot_env(fake: FakeDiscord, db: Path, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CORPUSBOT_"))}
    env.update(
        DISCORD_TOKEN=token,
        DISCORD_GUILD_ID=str(GUILD_ID),
        CORPUSBOT_DB=str(db),
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    return env


def start_bot(fake: FakeDiscord, db: Path, work: Path, log: Path, **popen) -> subprocess.Popen:
    """``python -m bot --sync`` against ``fake``, run in ``work`` (no stray .env is read)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--sync"],
        cwd=work,
        env=bot_env(fake, db, fake.token),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        **popen,
    )


@contextlib.contextmanager
def running_bot(work: Path, db: Path, token: str, heartbeat: float) -> Iterator[Live]:
    """A fake Discord and the real bot connected to it, stopped on the way out."""
    fake = FakeDiscord(token=token, heartbeat_interval=heartbeat)
    log = work / "bot.log"
    with ThreadedFake(fake) as thread:
        proc = start_bot(fake, db, work, log)
        state = Live(fake, thread, proc, db, log)
        try:
            state.wait(lambda: fake.session_id and fake.connected, timeout=60)
            yield state
        finally:
            stop_bot(proc)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    work = tmp_path_factory.mktemp("e2e")
    db = work / "corpus.db"
    Corpus.open(db, create=True).close()
    with running_bot(work, db, TOKEN, HEARTBEAT) as state:
        yield state


def stop_bot(proc: subprocess.Popen) -> None:
    """SIGTERM (the bot logs out cleanly), then SIGKILL if it does not stop."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------- start-up


def test_login_identify_and_ready(live: Live) -> None:
    fake = live.fake
    (identify,) = fake.identifies
    assert identify["token"] == TOKEN
    assert identify["intents"] & PRIVILEGED_INTENTS == 0
    assert ("GET", "/users/@me") in [(m, p) for m, p, *_ in fake.requests]
    assert fake.unhandled == []
    assert live.proc.poll() is None


def test_sync_payload(live: Live) -> None:
    synced = live.fake.synced
    assert list(synced) == [GUILD_ID]  # --sync with DISCORD_GUILD_ID: that guild only
    commands = {c["name"]: c for c in synced[GUILD_ID]}
    assert set(commands) == {"ask", "source", "help", "about", "corpus"}
    for name in ("ask", "source", "help", "about"):
        assert sorted(commands[name]["contexts"]) == [0, 1]  # servers and DMs with the bot
    question, within = commands["ask"]["options"]
    assert (question["type"], question["required"]) == (3, True)
    assert (question["min_length"], question["max_length"]) == (1, 300)
    assert (within["name"], within["type"], within["required"]) == ("article", 3, False)
    assert within["autocomplete"] is True
    article, public = commands["source"]["options"]
    assert (article["type"], article["autocomplete"]) == (3, True)
    assert (public["type"], public["required"]) == (5, False)


# ---------------------------------------------------------------------------- /ask


def test_ask_answers_with_the_quote_first_and_its_source(live: Live) -> None:
    ask = live.send(live.fake.slash("ask", 101, question=SEED_QUESTION))
    first = live.reply(ask)
    answer = live.answer(ask)
    # Fast: the answer is the first response; slow: a private deferral came first.
    assert first is answer or (first.ephemeral and not answer.ephemeral)
    assert not answer.ephemeral
    (embed,) = answer.embeds
    quote, source = embed["description"].split("\n")
    assert quote.startswith("> ") and SEED_QUOTE in unbold(quote)
    assert source == f"— {SEED_SOURCE}"


def test_not_found_is_private(live: Live) -> None:
    reply = live.ask("zebra quantum chromodynamics", 102)
    assert reply.ephemeral and reply.embeds[0]["title"] == "Not found in the corpus"
    assert "zebra" in reply.embeds[0]["description"]


def test_every_answer_button(live: Live) -> None:
    answer = live.ask(SEED_QUESTION, 103)
    message = answer.message
    assert message is not None

    context = live.click(message, "Context", 104)
    assert context.ephemeral and f"**{SEED_QUOTE}" in context.embeds[0]["description"]

    with Corpus.open(live.db, create=False) as corpus:
        paged, _ = question_with_pages(corpus, 2, 100)
    broad = live.ask(paged, 103).message  # more than one page
    assert broad is not None
    more = live.send(live.fake.click(broad, button(broad, "More")["custom_id"], 103))
    page = live.answer(more)
    assert page.ephemeral and page.embeds[0]["footer"]["text"].startswith("Quotes 4–")

    source = live.click(message, "Read the article", 104)
    assert source.ephemeral
    assert source.embeds[0]["title"] == SEED_TITLE
    ((name, content),) = source.files
    assert name.endswith(".txt") and SEED_QUOTE.encode() in content

    assert live.click(message, "👍 Helpful", 103).text == "Thanks! Your vote: 👍 Helpful."
    assert live.click(message, "👎 Not helpful", 103).text.startswith("Changed to 👎")
    assert live.click(message, "👎 Not helpful", 104).text.startswith("Thanks! Your vote: 👎")
    with sqlite3.connect(live.db) as db:
        votes = db.execute("select vote from votes order by vote").fetchall()
    assert votes == [(-1,), (-1,)]  # 103 changed their vote: one row a person


def test_a_reason_form_after_a_thumbs_down(live: Live) -> None:
    message = live.ask(SEED_QUESTION, 120).message
    down = live.click(message, "👎 Not helpful", 120)
    why = live.send(
        live.fake.click(down.message, button(down.message, "Say what was wrong")["custom_id"], 120)
    )
    live.reply(why)
    form = live.call(lambda: live.fake.modal(why.token))
    ((field,),) = [row["components"] for row in form["components"]]
    done = live.reply(
        live.send(live.fake.submit(form["custom_id"], {field["custom_id"]: "Off topic"}, 120))
    )
    assert done.ephemeral and "Thanks" in done.text
    with sqlite3.connect(live.db) as db:
        assert ("Off topic",) in db.execute("select reason from votes").fetchall()


def test_cooldown_answer(live: Live) -> None:
    for _ in range(3):
        assert live.ask("Kazakhstan Expo", 105).embeds
    blocked = live.ask("Kazakhstan Expo", 105)
    assert blocked.callback_type == CHANNEL_MESSAGE and blocked.ephemeral
    assert "Please wait" in blocked.text


def test_mentions_and_markdown_are_left_out_and_nothing_pings(live: Live) -> None:
    reply = live.ask("@everyone @here **Astana** `Expo` ||2017||?", 106)
    assert reply.embeds[0]["title"] == "Astana Expo 2017?"


def test_ask_and_help_in_a_dm(live: Live) -> None:
    reply = live.ask(SEED_QUESTION, 121, guild=None)
    assert SEED_QUOTE in unbold(reply.embeds[0]["description"])
    assert "guild_id" not in (reply.message or {})
    helped = live.reply(live.send(live.fake.slash("help", 121, guild=None)))
    assert helped.ephemeral and "</ask:" in helped.embeds[0]["description"]


# ---------------------------------------------------------------------------- /source


def test_source_autocomplete_and_paging(live: Live) -> None:
    fake = live.fake
    typed = live.send(fake.autocomplete("source", "article", "Northeast Asia", 107))
    choices = live.reply(typed).body["data"]["choices"]
    assert 1 <= len(choices) <= 25 and all(len(c["name"]) <= 100 for c in choices)
    chosen = choices[0]
    assert chosen["name"].startswith("Expo to deepen Northeast Asia biz ties")

    shown = live.reply(live.send(fake.slash("source", 107, article=chosen["value"])))
    assert shown.ephemeral and shown.files  # private unless shared
    assert shown.embeds[0]["footer"]["text"].startswith("Page 1/2")
    message = shown.message
    assert message is not None

    nxt = live.click(message, "Next", 107)
    assert nxt.callback_type == UPDATE_MESSAGE
    assert nxt.embeds[0]["footer"]["text"].startswith("Page 2/2")
    back = live.click(nxt.message or {}, "Previous", 107)
    assert back.embeds[0]["footer"]["text"].startswith("Page 1/2")

    shared = live.click(message, "Share in channel", 107)
    assert not shared.ephemeral and shared.embeds[0]["title"] == shown.embeds[0]["title"]
    refused = live.click(shared.message, "Next", 108)
    assert refused.ephemeral and "Only the person" in refused.text

    unknown = live.reply(live.send(fake.slash("source", 107, article="xyzzy plugh")))
    assert unknown.ephemeral and "No article matches" in unknown.text


def test_ask_within_one_article_and_its_more_pages(live: Live) -> None:
    fake = live.fake
    typed = live.send(fake.autocomplete("ask", "article", "Zhejiang", 140))
    choices = live.reply(typed).body["data"]["choices"]
    assert choices[0]["name"] == "Zhejiang seeks cooperation at Astana Expo"
    chosen = choices[0]["value"]

    answer = live.ask("zhejiang energy cooperation", 140, article=chosen)
    assert not answer.ephemeral
    (embed,) = answer.embeds
    assert embed["footer"]["text"] == "Only in: Zhejiang seeks cooperation at Astana Expo"
    sources = [line for line in embed["description"].split("\n") if line.startswith("— ")]
    sources += [f["value"] for f in embed.get("fields", [])]
    assert all("Zhejiang seeks cooperation at Astana Expo" in s for s in sources)
    assert "Read the article" in [b["label"] for b in answer.buttons()]  # one source only

    more = button(answer.message, "More")
    assert more["custom_id"].endswith(f":{chosen}")  # the page knows its article
    page = live.answer(live.send(fake.click(answer.message, more["custom_id"], 141)))
    assert page.ephemeral
    footer = page.embeds[0]["footer"]["text"]
    assert footer.startswith("Quotes 4–") and footer.endswith(
        "Only in: Zhejiang seeks cooperation at Astana Expo"
    )

    with Corpus.open(live.db, create=False) as corpus:
        expected = corpus.ask("zhejiang energy cooperation", offset=3, article_id=int(chosen))
    first = expected.hits[0].sentence.text
    assert first[:40] in unbold(page.embeds[0]["description"])

    unknown = live.ask("zhejiang energy cooperation", 142, article="xyzzy plugh")
    assert unknown.ephemeral and unknown.text.startswith("No article matches “xyzzy plugh”")
    several = live.ask("zhejiang energy cooperation", 142, article="Astana Expo")
    assert several.ephemeral and several.text.startswith("Several articles match “Astana Expo”")
    nowhere = live.ask("guitar lessons for beginners", 143, article=chosen)
    assert nowhere.ephemeral and nowhere.embeds[0]["title"] == "Not found in this article"
    assert "Zhejiang seeks cooperation" in nowhere.embeds[0]["description"]


def test_only_in_asks_a_this_study_question_again_within_one_article(live: Live) -> None:
    answer = live.ask("what did this study find about energy in Kazakhstan", 144)
    assert answer.embeds[0]["footer"]["text"].startswith("Asking about one article")
    only = [b for b in answer.buttons() if b.get("label", "").startswith("Only in")]
    assert len(only) > 1 and all(b["custom_id"].startswith("cb:in:") for b in only)
    article = only[-1]["custom_id"].rsplit(":", 1)[1]
    scoped = live.answer(live.send(live.fake.click(answer.message, only[-1]["custom_id"], 145)))
    assert scoped.ephemeral
    with Corpus.open(live.db, create=False) as corpus:
        title = corpus.store.article(int(article)).title
    assert scoped.embeds[0]["footer"]["text"] == f"Only in: {title}"


def test_ask_about_an_article_from_its_pages(live: Live) -> None:
    fake = live.fake
    shown = live.reply(live.send(fake.slash("source", 146, article="Zhejiang seeks cooperation")))
    ask = live.send(
        fake.click(shown.message, button(shown.message, "Ask about it")["custom_id"], 146)
    )
    assert live.reply(ask).callback_type == 9  # a form
    form = live.call(lambda: fake.modal(ask.token))
    field = form["components"][0]["components"][0]
    submitted = live.send(
        fake.submit(form["custom_id"], {field["custom_id"]: "zhejiang energy"}, 146)
    )
    answer = live.answer(submitted)
    assert answer.ephemeral
    assert (
        answer.embeds[0]["footer"]["text"] == "Only in: Zhejiang seeks cooperation at Astana Expo"
    )


def test_source_menu_public_option_and_a_single_page(live: Live) -> None:
    fake = live.fake
    menu = live.reply(live.send(fake.slash("source", 130, article="Astana Expo")))
    assert menu.ephemeral and menu.text == "Several articles match — pick one."
    (select,) = menu.components()
    titles = {o["label"]: o["value"] for o in select["options"]}
    chosen = titles["Zhejiang seeks cooperation at Astana Expo"]
    picked = live.reply(live.send(fake.choose(menu.message, select["custom_id"], [chosen], 130)))
    assert picked.ephemeral and picked.embeds[0]["title"].startswith("Zhejiang")
    # One page: no "Page 1/1", no pager, only Ask about it and Share.
    assert "Page" not in (picked.embeds[0].get("footer") or {}).get("text", "")
    assert [b["label"] for b in picked.buttons()] == ["Ask about it", "Share in channel"]

    public = live.reply(live.send(fake.slash("source", 130, article=chosen, public=True)))
    assert not public.ephemeral
    assert [b["label"] for b in public.buttons()] == ["Ask about it"]


def test_more_edits_its_page_in_place_and_stops_at_the_end(live: Live) -> None:
    fake = live.fake
    with Corpus.open(live.db, create=False) as corpus:
        long_one, pages = question_with_pages(corpus, 3, 100)
        short_one, _ = question_with_pages(corpus, 2, 2)
    message = live.ask(long_one, 131).message
    first = live.send(fake.click(message, button(message, "More")["custom_id"], 131))
    page = live.answer(first)
    assert page.ephemeral
    assert page.embeds[0]["footer"]["text"].startswith(f"Quotes {pages[0] + 1}–")
    again = live.send(fake.click(page.message, button(page.message, "More")["custom_id"], 131))
    edited = live.wait(lambda: [s for s in fake.sent_for(again.token) if s.kind == "edit"])[0]
    assert edited.message["id"] == page.message["id"]  # the same private message, edited

    message = live.ask(short_one, 134).message
    last = live.answer(live.send(fake.click(message, button(message, "More")["custom_id"], 134)))
    assert "More" not in [b.get("label") for b in last.buttons()]  # nothing after it


def test_a_blank_question_is_a_private_hint(live: Live) -> None:
    reply = live.ask("   ", 133)
    assert reply.ephemeral and reply.text.startswith("Please type a question in words")


def test_about(live: Live) -> None:
    reply = live.reply(live.send(live.fake.slash("about", 109)))
    assert reply.ephemeral
    fields = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
    assert fields["Articles"] == "5"


# ---------------------------------------------------------------------------- resilience


def test_dropped_websocket_resumes_and_replays(live: Live) -> None:
    fake = live.fake
    before = fake.connections
    live.thread.run(fake.drop(4000))
    # Sent while the bot is disconnected: the fake keeps it and replays it on RESUME.
    missed = live.send(fake.slash("ask", 110, question=SEED_QUESTION))
    assert SEED_QUOTE in unbold(live.answer(missed, timeout=30).embeds[0]["description"])
    assert len(fake.identifies) == 1  # resumed, not re-identified
    assert fake.resumes and fake.resumes[-1]["session_id"] == fake.session_id
    assert fake.connections == before + 1


def test_slow_query_keeps_heartbeats_and_answers_others(live: Live) -> None:
    """A Corpus call stuck on a locked database must not stall the event loop.

    The test holds SQLite's write lock, so the bot's vote waits (up to the question log's
    busy timeout) in its worker thread and then says, privately, that it could not be
    saved. Meanwhile the bot must keep heartbeating, keep acknowledging new interactions and
    keep answering them (questions read their own snapshot; their log row is given up
    rather than the answer); once the lock goes, votes are saved again.
    """
    fake = live.fake
    connections = fake.connections
    message = live.ask(SEED_QUESTION, 111).message
    assert message is not None
    holder = sqlite3.connect(live.db, isolation_level=None, timeout=1)
    try:
        holder.execute("BEGIN IMMEDIATE")
        vote = live.send(fake.click(message, button(message, "👍 Helpful")["custom_id"], 111))
        beats = live.call(lambda: len(fake.heartbeats))
        queued = live.send(fake.slash("ask", 112, question=SEED_QUESTION))
        # Deadlines shorter than the store's 10 s busy timeout: a blocked loop fails here.
        live.wait(lambda: fake.sent_for(queued.token), timeout=8.0)  # acknowledged at once
        live.wait(lambda: len(fake.heartbeats) >= beats + 3, timeout=8.0)  # loop not blocked
        assert SEED_QUOTE in unbold(live.answer(queued, timeout=8.0).text)  # reads go on
        refused = live.reply(vote, timeout=8.0)
        assert refused.ephemeral and "could not be saved" in refused.text
        holder.execute("COMMIT")
    finally:
        holder.close()
    assert live.click(message, "👍 Helpful", 111).text == "Thanks! Your vote: 👍 Helpful."
    assert fake.connections == connections  # no reconnect: heartbeats never lapsed


def test_burst_of_questions_all_answered_without_reconnecting(live: Live) -> None:
    fake = live.fake
    connections = fake.connections
    long_question = ("Kazakhstan Astana Expo energy tourism cooperation China 2017 " * 5)[:300]
    burst = [live.send(fake.slash("ask", 200 + i, question=long_question)) for i in range(30)]
    for interaction in burst:
        assert live.answer(interaction, timeout=60).embeds
    assert fake.connections == connections and len(fake.identifies) == 1


# ---------------------------------------------------------------------------- everywhere


def test_no_message_can_ping(live: Live) -> None:
    messages = [s for s in live.fake.sent if s.kind != "delete" and s.callback_type != 8]
    assert len(messages) > 20
    for sent in messages:
        if "content" in sent.data or "embeds" in sent.data:
            assert sent.data.get("allowed_mentions", {}).get("parse") == [], sent.body


def test_log_has_one_line_per_question_and_never_the_token(live: Live) -> None:
    text = live.log.read_text(encoding="utf-8", errors="replace")
    assert TOKEN not in text
    lines = [line for line in text.splitlines() if " question user=" in line]
    assert any("status=answered" in line and "latency_ms=" in line for line in lines)
    assert any("status=not_found" in line for line in lines)


# ---------------------------------------------------------------------------- bad tokens


def run_bot(live: Live, token: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    db = tmp_path / "corpus.db"
    shutil.copy(live.db, db)
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=bot_env(live.fake, db, token),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("token", "says"), [("", "DISCORD_TOKEN is not set"), ("wrong-token", "rejected DISCORD_TOKEN")]
)
def test_missing_or_rejected_token_is_one_line_and_status_1(
    live: Live, tmp_path: Path, token: str, says: str
) -> None:
    done = run_bot(live, token, tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("corpusbot:")]
    assert len(errors) == 1 and says in errors[0], done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------------------- restarts


def test_buttons_work_after_the_bot_restarts(tmp_path: Path) -> None:
    """Answer, stop the bot, start a new process, then press the old message's buttons.

    Every button keeps its state in its custom_id and the question log keeps the
    question, so the new process serves clicks on messages the old one sent."""
    db = tmp_path / "corpus.db"
    Corpus.open(db, create=True).close()
    fake = FakeDiscord(token=TOKEN, heartbeat_interval=HEARTBEAT)
    with ThreadedFake(fake) as thread:
        first = start_bot(fake, db, tmp_path, tmp_path / "first.log")
        live = Live(fake, thread, first, db, tmp_path / "first.log")
        try:
            live.wait(lambda: fake.session_id and fake.connected, timeout=60)
            with Corpus.open(db, create=False) as corpus:
                paged, _ = question_with_pages(corpus, 2, 100)
            broad = live.ask(paged, 301).message
            article = live.reply(live.send(fake.slash("source", 301, article="Northeast Asia")))
            down = live.click(broad, "👎 Not helpful", 304)
            why = live.send(
                fake.click(
                    down.message, button(down.message, "Say what was wrong")["custom_id"], 304
                )
            )
            live.reply(why)
            form = live.call(lambda: fake.modal(why.token))  # opened, not yet sent
        finally:
            stop_bot(first)
        assert first.returncode == 0
        live.wait(lambda: not fake.connected, timeout=30)

        second = start_bot(fake, db, tmp_path, tmp_path / "second.log")
        live = Live(fake, thread, second, db, tmp_path / "second.log")
        try:
            live.wait(lambda: len(fake.identifies) == 2 and fake.connected, timeout=60)
            voted = live.click(broad, "👍 Helpful", 302)
            assert voted.ephemeral and voted.text == "Thanks! Your vote: 👍 Helpful."
            more = live.send(fake.click(broad, button(broad, "More")["custom_id"], 301))
            page = live.answer(more)
            assert page.ephemeral and page.embeds[0]["footer"]["text"].startswith("Quotes 4–")
            context = live.click(broad, "Context", 303)
            assert context.ephemeral and context.embeds[0]["title"] == "Context"
            (first_read,) = [b for b in broad["components"][1]["components"]][:1]
            read = live.click(broad, first_read["label"], 303)
            article_id = int(first_read["custom_id"].rsplit(":", 1)[1])
            with Corpus.open(db, create=False) as corpus:
                (cited,) = corpus.articles([article_id])
            assert read.ephemeral and read.embeds[0]["title"] == cited.title
            turned = live.click(article.message, "Next", 301)
            assert turned.embeds[0]["footer"]["text"].startswith("Page 2/2")
            ((field,),) = [row["components"] for row in form["components"]]
            sent = fake.submit(form["custom_id"], {field["custom_id"]: "Too vague"}, 304)
            assert "Thanks" in live.reply(live.send(sent)).text
            with sqlite3.connect(db) as conn:
                assert ("Too vague",) in conn.execute("select reason from votes").fetchall()
            # Every press got its answer: nothing was left for Discord to call "failed".
            assert all(fake.sent_for(i.token) for i in fake.interactions.values())
        finally:
            stop_bot(second)


# ---------------------------------------------------------------------------- a broken database


def test_a_database_broken_while_running_is_private_generic_and_quiet(tmp_path: Path) -> None:
    """The database's pages are overwritten while the bot runs (its schema already read):
    every reply is private and generic, the detail is in the log, autocomplete offers
    nothing without a traceback, and the bot stays up."""
    db = tmp_path / "corpus.db"
    Corpus.open(db, create=True).close()
    with running_bot(tmp_path, db, TOKEN, HEARTBEAT) as live:
        assert live.ask(SEED_QUESTION, 401).embeds  # healthy first
        size = db.stat().st_size
        with db.open("r+b") as f:  # keep the 100-byte header, wreck every page after it
            f.seek(4096)
            f.write(b"\xa5" * (size - 4096))
        fake = live.fake
        for interaction in (
            fake.slash("ask", 402, question="Astana Expo energy"),
            fake.slash("source", 402, article="Zhejiang"),
            fake.slash("about", 402),
        ):
            reply = live.reply(live.send(interaction))
            assert reply.ephemeral, reply.text
            assert (
                reply.text == "Search is unavailable right now. Please try again in a little while."
            )
        typed = live.reply(live.send(fake.autocomplete("source", "article", "Expo", 402)))
        assert typed.body["data"]["choices"] == []
        log = live.log.read_text(encoding="utf-8", errors="replace")
        assert "malformed" in log or "not a database" in log  # the detail, for the admin
        autocomplete = [line for line in log.splitlines() if "autocomplete unavailable" in line]
        assert autocomplete and "Traceback" not in log
        assert live.proc.poll() is None
