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
    DEFERRED_CHANNEL_MESSAGE,
    GUILD_ID,
    UPDATE_MESSAGE,
    FakeDiscord,
    Interaction,
    Sent,
    ThreadedFake,
)

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "FAKE.e2e-token.never-logged-7f3a9c"
HEARTBEAT = 0.25  # seconds: short, so "keeps heartbeating while busy" shows up quickly
SEED_QUESTION = "Which tourism year was launched in Kazakhstan in 2017?"
SEED_QUOTE = "The China Tourism Year that has been launched in Kazakhstan in 2017"
SEED_CITATION = "President Xi’s visit cements China-Kazakhstan ties — Alwihda Info, 2017-06-07"
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
        return self.thread.run(self.fake.wait_reply(interaction, timeout), timeout + 5)

    def wait(self, predicate: Any, timeout: float = 20.0) -> Any:
        return self.thread.run(self.fake.wait_for(predicate, timeout), timeout + 5)

    def call(self, fn: Any) -> Any:
        """Read the fake's state on its own loop."""
        return self.thread.call(fn)

    def ask(self, question: str, user_id: int) -> Sent:
        return self.reply(self.send(self.fake.slash("ask", user_id, question=question)))

    def click(self, message: dict[str, Any], label: str, user_id: int) -> Sent:
        custom_id = button(message, label)["custom_id"]
        return self.reply(self.send(self.fake.click(message, custom_id, user_id)))


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for row in message["components"]:
        for item in row["components"]:
            if item.get("label") == label or (item.get("emoji") or {}).get("name") == label:
                return item
    raise AssertionError(f"no {label!r} button in {message['components']}")


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
    assert set(commands) == {"ask", "source", "about", "corpus"}
    (question,) = commands["ask"]["options"]
    assert (question["type"], question["required"]) == (3, True)
    assert (question["min_length"], question["max_length"]) == (1, 300)
    (article,) = commands["source"]["options"]
    assert (article["type"], article["autocomplete"]) == (3, True)


# ---------------------------------------------------------------------------- /ask


def test_ask_defers_then_follows_up_with_quote_and_citation(live: Live) -> None:
    ask = live.send(live.fake.slash("ask", 101, question=SEED_QUESTION))
    answer = live.reply(ask)
    defer = live.fake.sent_for(ask.token)[0]
    assert defer.callback_type == DEFERRED_CHANNEL_MESSAGE
    assert answer.kind == "followup"
    (embed,) = answer.embeds
    assert SEED_QUOTE in embed["description"]
    assert SEED_CITATION in embed["fields"][0]["value"]
    # The follow-up replaced the "thinking…" message, as on Discord.
    assert answer.message and answer.message["id"] == str(live.fake._original[ask.token])


def test_not_found(live: Live) -> None:
    reply = live.ask("zebra quantum chromodynamics", 102)
    assert reply.embeds[0]["title"] == "Not found in the corpus"
    assert "zebra" in reply.embeds[0]["description"]


def test_every_answer_button(live: Live) -> None:
    answer = live.ask(SEED_QUESTION, 103)
    message = answer.message
    assert message is not None

    context = live.click(message, "Context", 104)
    assert context.ephemeral and f"**{SEED_QUOTE}" in context.embeds[0]["description"]

    broad = live.ask("China Kazakhstan cooperation", 103).message  # more than one page
    assert broad is not None
    more = live.click(broad, "More", 103)
    assert more.ephemeral and "results 4–" in more.embeds[0]["footer"]["text"]

    source = live.click(message, "Source [1]", 104)
    assert source.ephemeral
    assert source.embeds[0]["title"] == "President Xi’s visit cements China-Kazakhstan ties"
    ((name, content),) = source.files
    assert name.endswith(".txt") and SEED_QUOTE.encode() in content

    assert "recorded" in live.click(message, "👍", 103).text
    assert "recorded" in live.click(message, "👎", 104).text
    with sqlite3.connect(live.db) as db:
        votes = db.execute(
            "select user_id, vote, question, sentence_ids from feedback where user_id in "
            "('103', '104') order by vote"
        ).fetchall()
    assert [(u, v) for u, v, *_ in votes] == [("104", -1), ("103", 1)]
    assert all(q == SEED_QUESTION and ids.startswith("[") for _, _, q, ids in votes)


def test_cooldown_answer(live: Live) -> None:
    for _ in range(3):
        assert live.ask("Kazakhstan Expo", 105).embeds
    blocked = live.ask("Kazakhstan Expo", 105)
    assert blocked.callback_type == CHANNEL_MESSAGE and blocked.ephemeral
    assert "Please wait" in blocked.text


def test_everyone_and_markdown_are_inert(live: Live) -> None:
    reply = live.ask("@everyone @here **Astana** `Expo` ||2017||?", 106)
    title = reply.embeds[0]["title"]
    assert "@\u200beveryone" in title and "@\u200bhere" in title
    assert r"\*\*Astana\*\*" in title and r"\`Expo\`" in title and r"\|\|2017\|\|" in title


# ---------------------------------------------------------------------------- /source


def test_source_autocomplete_and_paging(live: Live) -> None:
    fake = live.fake
    typed = live.send(fake.autocomplete("source", "article", "Northeast Asia", 107))
    choices = live.reply(typed).body["data"]["choices"]
    assert 1 <= len(choices) <= 25 and all(len(c["name"]) <= 100 for c in choices)
    chosen = choices[0]
    assert chosen["name"].startswith("Expo to deepen Northeast Asia biz ties")

    shown = live.reply(live.send(fake.slash("source", 107, article=chosen["value"])))
    assert not shown.ephemeral and shown.files
    assert shown.embeds[0]["footer"]["text"].startswith("Page 1/2")
    message = shown.message
    assert message is not None

    refused = live.click(message, "Next", 108)
    assert refused.ephemeral and "Only the person" in refused.text
    nxt = live.click(message, "Next", 107)
    assert nxt.callback_type == UPDATE_MESSAGE
    assert nxt.embeds[0]["footer"]["text"].startswith("Page 2/2")
    back = live.click(nxt.message or {}, "Previous", 107)
    assert back.embeds[0]["footer"]["text"].startswith("Page 1/2")

    unknown = live.reply(live.send(fake.slash("source", 107, article="xyzzy plugh")))
    assert unknown.ephemeral and "No article matches" in unknown.text


def test_about(live: Live) -> None:
    reply = live.reply(live.send(live.fake.slash("about", 109)))
    fields = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
    assert fields["Articles"] == "5"


# ---------------------------------------------------------------------------- resilience


def test_dropped_websocket_resumes_and_replays(live: Live) -> None:
    fake = live.fake
    before = fake.connections
    live.thread.run(fake.drop(4000))
    # Sent while the bot is disconnected: the fake keeps it and replays it on RESUME.
    missed = live.send(fake.slash("ask", 110, question=SEED_QUESTION))
    assert SEED_QUOTE in live.reply(missed, timeout=30).embeds[0]["description"]
    assert len(fake.identifies) == 1  # resumed, not re-identified
    assert fake.resumes and fake.resumes[-1]["session_id"] == fake.session_id
    assert fake.connections == before + 1


def test_slow_query_keeps_heartbeats_and_answers_others(live: Live) -> None:
    """A Corpus call stuck on a locked database must not stall the event loop.

    The test holds SQLite's write lock, so the bot's feedback write waits (up to the
    store's busy timeout) in its worker thread. Meanwhile the bot must keep heartbeating,
    keep acknowledging new interactions and keep answering them (questions read their
    own snapshot on their thread's connection, so a waiting write does not hold them up);
    once the lock goes, the vote completes.
    """
    fake = live.fake
    connections = fake.connections
    message = live.ask(SEED_QUESTION, 111).message
    assert message is not None
    holder = sqlite3.connect(live.db, isolation_level=None, timeout=1)
    try:
        holder.execute("BEGIN IMMEDIATE")
        vote = live.send(fake.click(message, button(message, "👍")["custom_id"], 111))
        beats = live.call(lambda: len(fake.heartbeats))
        queued = live.send(fake.slash("ask", 112, question=SEED_QUESTION))
        # Deadlines shorter than the store's 10 s busy timeout: a blocked loop fails here.
        live.wait(lambda: fake.sent_for(queued.token), timeout=8.0)  # deferred at once
        live.wait(lambda: len(fake.heartbeats) >= beats + 3, timeout=8.0)  # loop not blocked
        assert SEED_QUOTE in live.reply(queued, timeout=8.0).text  # reads go on
        # ...while the write really is stuck: no thanks yet.
        assert live.call(lambda: fake.reply(vote.token)) is None
        holder.execute("COMMIT")
    finally:
        holder.close()
    assert "recorded" in live.reply(vote).text
    assert fake.connections == connections  # no reconnect: heartbeats never lapsed


def test_burst_of_questions_all_answered_without_reconnecting(live: Live) -> None:
    fake = live.fake
    connections = fake.connections
    long_question = ("Kazakhstan Astana Expo energy tourism cooperation China 2017 " * 5)[:300]
    burst = [live.send(fake.slash("ask", 200 + i, question=long_question)) for i in range(30)]
    for interaction in burst:
        assert live.reply(interaction, timeout=60).embeds
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
