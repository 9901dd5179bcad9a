"""``/corpus`` (bot/admin.py) through the real command tree against the fake Discord:
real interaction payloads in, the JSON Discord receives checked, a real SQLite corpus."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.app import CorpusBot
from retrieval import library
from retrieval.corpus import Corpus
from tests.fakediscord import AUTOCOMPLETE_RESULT, EPHEMERAL, FakeDiscord, Sent
from tests.test_admin_logging import invoke, run_bot

ADMIN = 9001
NEW_ARTICLE = (
    "# Almaty opens a cable car to the glacier\n\n"
    "The city of Almaty opened a cable car that carries visitors to the Tuyuksu glacier.\n\n"
    "The line is 4.5 kilometres long and took three years to build.\n"
)
NEW_QUESTION = "how long is the cable car to the tuyuksu glacier"
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
        assert set(subs) == {"stats", "report", "add", "remove"}
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
