"""The bot as Discord gateway shards, against the fake Discord serving two shards: one
process running both (AutoShardedBot), or two processes splitting them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.app import UNAVAILABLE
from bot.config import ConfigError, load_config
from retrieval.corpus import Corpus
from tests.conftest import SEEDS
from tests.fakediscord import GUILD_ID, FakeDiscord, ThreadedFake
from tests.test_bot_e2e import SEED_QUESTION, SEED_QUOTE, bot_env, stop_bot, unbold

pytestmark = pytest.mark.e2e

TOKEN = "FAKE.shards-token.never-logged-5b1e"
# A guild on each gateway shard of two: Discord routes a guild by (id >> 22) % count.
GUILDS = {0: GUILD_ID, 1: GUILD_ID + (1 << 22)}


def start(fake: FakeDiscord, db: Path, work: Path, name: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--sync"],
        cwd=work,
        env=bot_env(fake, db, TOKEN) | env,
        stdout=(work / f"{name}.log").open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize("split", [False, True], ids=["one-process", "two-processes"])
def test_each_gateway_shard_answers_its_guilds(tmp_path: Path, split: bool) -> None:
    db = tmp_path / "corpus.db"
    Corpus.open(db, create=True).close()  # built from seeds/
    fake = FakeDiscord(token=TOKEN)
    with ThreadedFake(fake) as thread:
        if split:
            procs = [
                start(
                    fake, db, tmp_path, f"bot{i}", DISCORD_SHARD_COUNT="2", DISCORD_SHARD_IDS=str(i)
                )
                for i in (0, 1)
            ]
        else:
            procs = [start(fake, db, tmp_path, "bot", DISCORD_SHARD_COUNT="2")]
        try:
            thread.run(fake.wait_for(lambda: len(fake.shard_sockets) == 2, 60), 65)
            shards = sorted(tuple(i["shard"]) for i in thread.call(lambda: list(fake.identifies)))
            assert shards == [(0, 2), (1, 2)]
            for shard, guild in GUILDS.items():
                interaction = thread.call(
                    lambda g=guild: fake.slash("ask", 4242, guild=g, question=SEED_QUESTION)
                )
                thread.run(fake.send(interaction))
                reply = thread.run(fake.wait_answer(interaction, 30), 35)
                assert fake.dispatched_on[interaction.token] == shard
                assert SEED_QUOTE in unbold(reply.text)
            assert all(p.poll() is None for p in procs)
        finally:
            for proc in procs:
                stop_bot(proc)
    assert all(p.returncode == 0 for p in procs)
    assert TOKEN not in "".join(p.read_text() for p in tmp_path.glob("*.log"))


def test_shard_settings_are_checked() -> None:
    base = {"DISCORD_TOKEN": "x"}
    config = load_config(base | {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "1, 3"})
    assert (config.gateway_shard_count, config.gateway_shard_ids) == (4, (1, 3))
    assert load_config(base).gateway_shard_count is None
    assert load_config(base | {"DISCORD_SHARD_COUNT": "2"}).gateway_shard_ids is None
    for bad in (
        {"DISCORD_SHARD_IDS": "0"},
        {"DISCORD_SHARD_COUNT": "0"},
        {"DISCORD_SHARD_COUNT": "two"},
        {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "2"},
        {"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "0,0"},
    ):
        with pytest.raises(ConfigError):
            load_config(base | bad)


def test_bot_on_xapian_shards_answers_and_says_when_a_shard_is_down(tmp_path: Path) -> None:
    from tests.shards import require_xapian, running_shards, shards_setting

    require_xapian()
    with running_shards(tmp_path, 2) as servers:
        setting = {"CORPUSBOT_BACKEND": "xapian", "CORPUSBOT_SHARDS": shards_setting(servers)}
        fake = FakeDiscord(token=TOKEN)
        with ThreadedFake(fake) as thread:
            ingest = subprocess.run(
                [sys.executable, "-m", "bot.cli", "ingest", "--quiet", str(SEEDS)],
                env=bot_env(fake, tmp_path / "unused.db", TOKEN) | setting,
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert ingest.returncode == 0, ingest.stderr
            proc = start(fake, tmp_path / "unused.db", tmp_path, "bot", **setting)
            try:
                thread.run(fake.wait_for(lambda: fake.session_id and fake.connected, 60), 65)

                def ask() -> Any:
                    interaction = thread.call(
                        lambda: fake.slash("ask", 4242, question=SEED_QUESTION)
                    )
                    thread.run(fake.send(interaction))
                    reply = thread.run(fake.wait_reply(interaction, 30), 35)
                    if reply.embeds or reply.kind != "edit":
                        return reply
                    return thread.run(fake.wait_answer(interaction, 30), 35)

                assert SEED_QUOTE in unbold(ask().text)
                servers[1].stop()
                down = ask()
                # Private and generic for the person; which shard failed is in the log.
                assert down.ephemeral and down.text == UNAVAILABLE
                assert "1 of 2 shards answered" in (tmp_path / "bot.log").read_text()
                servers[1].start()
                assert SEED_QUOTE in unbold(ask().text)
            finally:
                stop_bot(proc)
    assert not (tmp_path / "unused.db").exists()
