"""``/corpus`` (bot/admin.py) through the real command tree against the fake Discord:
real interaction payloads in, the JSON Discord receives checked, a real SQLite corpus."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bot import metrics
from bot.app import CorpusBot
from bot.metrics import REGISTRY
from retrieval import library
from retrieval.corpus import Corpus
from retrieval.querylog import QueryLog
from retrieval.web import Web
from tests.conftest import DATA
from tests.fakediscord import AUTOCOMPLETE_RESULT, EPHEMERAL, FakeDiscord, Sent
from tests.test_admin_logging import invoke, run_bot
from tests.test_cli import run
from tests.test_web import CABLE
from tests.webserver import serve

pytestmark = pytest.mark.e2e

ADMIN = 9001
NEW_ARTICLE = (
    "# Almaty opens a cable car to the glacier\n\n"
    "The city of Almaty opened a cable car that carries visitors to the Tuyuksu glacier.\n\n"
    "The line is 4.5 kilometres long and took three years to build.\n"
)
NEW_QUESTION = "how long is the cable car line"
MANAGE_GUILD = 1 << 5


@pytest.fixture
def corpus(corpus_path: Path) -> Any:
    corpus = Corpus.open(corpus_path, create=False)
    yield corpus
    corpus.close()


def sub(name: str, **options: Any) -> list[dict[str, Any]]:
    """``/corpus name option:value``: a subcommand with string (or given) options."""
    opts = [
        value if isinstance(value, dict) else {"name": key, "type": 3, "value": value}
        for key, value in options.items()
    ]
    return [{"name": name, "type": 1, "options": opts}]


async def corpus_cmd(fake: FakeDiscord, bot: CorpusBot, name: str, **options: Any) -> Sent:
    attachments = [v["attachment"] for v in options.values() if isinstance(v, dict)]
    opts = {
        k: ({"name": k, "type": 11, "value": v["attachment"]["id"]} if isinstance(v, dict) else v)
        for k, v in options.items()
    }
    interaction = fake.command("corpus", ADMIN, sub(name, **opts), attachments=attachments)
    await invoke(bot, interaction)
    reply = fake.sent_for(interaction.token)[-1]
    assert reply.ephemeral, f"/corpus {name} answered in public: {reply.text}"
    assert reply.data.get("allowed_mentions", {}).get("parse") == []
    return reply


def test_the_registered_group_is_for_server_managers_in_servers_only(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        (group,) = [c for c in next(iter(fake.synced.values())) if c["name"] == "corpus"]
        assert int(group["default_member_permissions"]) == MANAGE_GUILD
        assert group["contexts"] == [0]  # guild only: not in DMs or private channels
        assert group["dm_permission"] is False
        subs = {o["name"]: o for o in group["options"]}
        assert set(subs) == {"stats", "report", "add", "remove", "feeds"}
        assert subs.pop("feeds")["type"] == 2  # a subcommand group: list, add, remove
        assert all(o["type"] == 1 for o in subs.values())
        add = {o["name"]: o for o in subs["add"]["options"]}
        assert (add["file"]["type"], add["file"]["required"]) == (11, False)
        assert (add["url"]["type"], add["url"]["required"]) == (3, False)
        (article,) = subs["remove"]["options"]
        assert article["autocomplete"] is True and article["required"] is True
        # The members' commands keep their defaults (everyone may use them).
        others = [c for c in next(iter(fake.synced.values())) if c["name"] != "corpus"]
        assert all(c.get("default_member_permissions") is None for c in others)

    run_bot(scenario, corpus)


def test_stats_and_report_are_private(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        for question in ("@everyone **zebra** quantum chromodynamics", "astana expo"):
            await invoke(bot, fake.slash("ask", 77, question=question))
        stats = await corpus_cmd(fake, bot, "stats")
        assert "5 articles" in stats.text and "last 7 days: 2 questions, 1 answered" in stats.text
        report = await corpus_cmd(fake, bot, "report")
        text = report.data["content"]
        assert text.startswith("```\n2 questions since") and "50% not found" in text
        # The question is shown as typed, inside the code block: no markdown, no ping.
        assert "• @everyone **zebra** quantum chromodynamics (×1)" in text
        assert text.count("```") == 2 and len(text) <= 2000

    run_bot(scenario, corpus)


def test_add_a_file_then_replace_it_then_refuse_bad_ones(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    uploads = library.folder(corpus.path, "uploads")

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        def file(name: str, content: bytes) -> dict[str, Any]:
            return {"attachment": fake.upload(name, content)}

        added = await corpus_cmd(fake, bot, "add", file=file("cable car.md", NEW_ARTICLE.encode()))
        assert "1 added, 0 replaced" in added.text
        assert (uploads / "cable-car.md").read_text() == NEW_ARTICLE
        answer = corpus.ask(NEW_QUESTION)
        assert answer.answered
        assert any("4.5 kilometres" in hit.sentence.text for hit in answer.hits)
        assert answer.hits[0].article.file == "cable-car.md"

        again = await corpus_cmd(fake, bot, "add", file=file("cable car.md", NEW_ARTICLE.encode()))
        assert "0 added, 0 replaced, 1 unchanged" in again.text
        changed = NEW_ARTICLE.replace("4.5 kilometres", "4.6 kilometres")
        replaced = await corpus_cmd(fake, bot, "add", file=file("cable car.md", changed.encode()))
        assert "0 added, 1 replaced" in replaced.text
        texts = [hit.sentence.text for hit in corpus.ask(NEW_QUESTION).hits]
        assert any("4.6 kilometres" in t for t in texts) and not any("4.5" in t for t in texts)
        assert corpus.stats().articles == 6

        pdf = await corpus_cmd(fake, bot, "add", file=file("paper.pdf", b"%PDF-1.7"))
        assert "Only .txt, .md, .html, .jsonl files" in pdf.text
        binary = await corpus_cmd(fake, bot, "add", file=file("x.txt", b"\x00\x01binary"))
        assert "skipped" in binary.text and "binary file" in binary.text
        monkeypatch.setenv("CORPUSBOT_UPLOAD_MAX_BYTES", "100")
        big = await corpus_cmd(fake, bot, "add", file=file("big.txt", b"word " * 50))
        assert "250 bytes; the limit is 100" in big.text
        neither = await corpus_cmd(fake, bot, "add")
        assert "either a file or a url" in neither.text
        # Nothing refused was kept, and the corpus holds the one new article.
        assert sorted(p.name for p in uploads.iterdir()) == ["cable-car.md"]
        assert corpus.stats().articles == 6

    run_bot(scenario, corpus)


def test_remove_with_autocomplete(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        typing = fake.command(
            "corpus",
            ADMIN,
            [{"name": "remove", "type": 1, "options": [
                {"name": "article", "type": 3, "value": "Hunan", "focused": True}]}],
            kind=4,
        )  # fmt: skip
        await invoke(bot, typing)
        (choices,) = fake.sent_for(typing.token)
        assert choices.callback_type == AUTOCOMPLETE_RESULT
        options = choices.body["data"]["choices"]
        assert "Hunan" in options[0]["name"] and len(options[0]["name"]) <= 100
        hunan_id = options[0]["value"]

        nothing = await corpus_cmd(fake, bot, "remove", article="Hunan")  # a search, not a name
        assert "nothing was removed" in nothing.text
        assert corpus.stats().articles == 5
        removed = await corpus_cmd(fake, bot, "remove", article=hunan_id)
        assert removed.text.startswith(f"Removed article {hunan_id}: ")
        assert corpus.stats().articles == 4
        assert corpus.store.article(int(hunan_id)) is None

    run_bot(scenario, corpus)
    with sqlite3.connect(corpus.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_replies_are_flagged_ephemeral_in_the_payload(corpus: Corpus) -> None:
    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        interaction = fake.command("corpus", ADMIN, sub("stats"))
        await invoke(bot, interaction)
        (reply,) = fake.sent_for(interaction.token)
        assert reply.body["data"]["flags"] & EPHEMERAL

    run_bot(scenario, corpus)


# ---------------------------------------------------------------------------- the web


def feeds_cmd(fake: FakeDiscord, action: str, **options: str) -> Any:
    opts = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
    return fake.command(
        "corpus", ADMIN, [{"name": "feeds", "type": 2, "options": [
            {"name": action, "type": 1, "options": opts}]}],
    )  # fmt: skip


async def private_reply(fake: FakeDiscord, bot: CorpusBot, interaction: Any) -> Sent:
    await invoke(bot, interaction)
    reply = fake.sent_for(interaction.token)[-1]
    assert reply.ephemeral and reply.data.get("allowed_mentions", {}).get("parse") == []
    return reply


def test_add_a_url_and_manage_feeds(corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("CORPUSBOT_FETCH_PRIVATE", "on")  # the test site is on 127.0.0.1
    monkeypatch.setenv("CORPUSBOT_FETCH_TIMEOUT", "0.5")
    with serve() as site:
        site.feed_items = ["/news/wheat", "/news/wheat", "/news/gone"]

        async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
            page = await corpus_cmd(fake, bot, "add", url=f"{site.base}/news/cable-car")
            assert page.data["content"].startswith(f"```\nadded {site.base}/news/cable-car")
            assert corpus.ask(CABLE).answered

            empty = await private_reply(fake, bot, feeds_cmd(fake, "list"))
            assert "No feeds yet" in empty.text
            added = await private_reply(
                fake, bot, feeds_cmd(fake, "add", url=f"{site.base}/feed.xml")
            )
            assert "2 items: 1 added" in added.text and "1 error" in added.text
            assert "HTTP 404" in added.text and "Registered: read every 30 min." in added.text
            listed = await private_reply(fake, bot, feeds_cmd(fake, "list"))
            assert f"{site.base}/feed.xml  Steppe Daily  (read " in listed.text

            typing = fake.command(
                "corpus", ADMIN, [{"name": "feeds", "type": 2, "options": [
                    {"name": "remove", "type": 1, "options": [
                        {"name": "url", "type": 3, "value": "steppe", "focused": True}]}]}],
                kind=4,
            )  # fmt: skip
            await invoke(bot, typing)
            (choice,) = fake.sent_for(typing.token)[-1].body["data"]["choices"]
            assert choice == {"name": "Steppe Daily", "value": f"{site.base}/feed.xml"}
            gone = await private_reply(fake, bot, feeds_cmd(fake, "remove", url=choice["value"]))
            assert "Removed" in gone.text and bot.web.feeds() == []

            bad = await corpus_cmd(fake, bot, "add", url="file:///etc/passwd")
            assert "not an http(s) address" in bad.text

        run_bot(scenario, corpus)


def test_the_bot_refreshes_registered_feeds_and_counts_them(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("CORPUSBOT_FETCH_PRIVATE", "on")  # the test site is on 127.0.0.1
    with serve() as site:
        site.feed_items = ["/news/wheat", "/news/gone"]
        web = Web(corpus)
        web.add_feed(f"{site.base}/feed.xml")
        web.close()
        feed_reads = len(site.requested("/feed.xml"))
        before = metric("corpusbot_feed_refreshes_total", result="unchanged")

        async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
            for _ in range(200):  # the first refresh runs at start-up, in a worker thread
                if metric("corpusbot_feed_refreshes_total", result="unchanged") > before:
                    break
                await asyncio.sleep(0.05)

        run_bot(scenario, corpus)
        assert len(site.requested("/feed.xml")) == feed_reads + 1
        assert site.requested("/news/wheat")[-1].get("If-None-Match")  # conditional
        assert metric("corpusbot_feed_refreshes_total", result="unchanged") == before + 1


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_endpoint_on_localhost(corpus: Corpus) -> None:
    server = metrics.serve(metrics.MetricsSettings(port=0))
    assert server is not None
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    try:
        metrics.track_corpus(corpus)

        async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
            await invoke(bot, fake.slash("ask", 5, question="astana expo"))
            await invoke(bot, fake.slash("ask", 5, question="zebra quantum chromodynamics"))

        answered = metric("corpusbot_questions_total", status="answered")
        missing = metric("corpusbot_questions_total", status="not_found")
        timed = metric("corpusbot_question_seconds_count")
        run_bot(scenario, corpus)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values['corpusbot_questions_total{status="answered"}'] == answered + 1
    assert values['corpusbot_questions_total{status="not_found"}'] == missing + 1
    assert values["corpusbot_question_seconds_count"] == timed + 2
    assert values["corpusbot_corpus_articles"] == 5
    assert values["corpusbot_corpus_sentences"] == corpus.stats().sentences


def test_metrics_settings() -> None:
    assert metrics.settings({}) == metrics.MetricsSettings(None, "127.0.0.1")
    assert metrics.settings({"CORPUSBOT_METRICS_PORT": "9108"}).port == 9108
    with pytest.raises(ValueError, match="CORPUSBOT_METRICS_PORT"):
        metrics.settings({"CORPUSBOT_METRICS_PORT": "http"})


def test_about_says_questions_are_logged_and_how_to_turn_it_off(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORPUSBOT_QUERY_LOG_DAYS", "30")

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        about = fake.slash("about", 12)
        await invoke(bot, about)
        field = next(
            f for f in fake.sent_for(about.token)[-1].embeds[0]["fields"]
            if f["name"] == "Your questions"
        )  # fmt: skip
        assert "logged for 30 days" in field["value"] and "salted hash" in field["value"]
        assert "CORPUSBOT_QUERY_LOG=off" in field["value"]

    run_bot(scenario, corpus)

    async def off(fake: FakeDiscord, bot: CorpusBot) -> None:
        about = fake.slash("about", 12)
        await invoke(bot, about)
        assert "Questions are not logged." in fake.sent_for(about.token)[-1].text

    run_bot(off, corpus, query_log=QueryLog(corpus.path, enabled=False))


def test_questions_asked_in_discord_become_a_gold_file_eval_passes(
    corpus: Corpus, tmp_path: Path
) -> None:
    """/ask through the fake Discord, 👍 stored against the logged question (the call
    the vote buttons make), exported with ``report --gold``, scored by ``corpusbot eval``."""
    dev = [json.loads(x) for x in (DATA / "dev.jsonl").read_text().splitlines()[8:14]]

    async def scenario(fake: FakeDiscord, bot: CorpusBot) -> None:
        for i, item in enumerate(dev):
            await invoke(bot, fake.slash("ask", 600 + i, question=item["question"]))

    run_bot(scenario, corpus)
    with QueryLog(corpus.path) as qlog:
        asked = qlog.questions()
        assert [a.question for a in asked] == [item["question"] for item in dev]
        for a in asked:
            assert qlog.vote(a.id, 700, +1) == "recorded"
    gold = tmp_path / "users.jsonl"
    done = run("report", "--gold", str(gold), db=Path(corpus.path))
    assert done.returncode == 0, done.stderr
    confirmed = sum(1 for a in asked if a.status == "answered")
    assert confirmed >= 4 and len(gold.read_text().splitlines()) == confirmed
    scored = run("eval", "--json", "-k", "3", str(gold), db=Path(corpus.path))
    result = json.loads(scored.stdout)["answerable"]
    assert (result["n"], result["hit@3"]) == (confirmed, 1.0)


def test_long_results_stay_one_closed_code_block() -> None:
    from bot.admin import plain

    text = plain("```" + "x" * 5000)
    assert len(text) <= 2000 and text.startswith("```\n") and text.endswith("…\n```")
    assert text.count("```") == 2
