"""The admin's settings on the real ``python -m bot`` (a subprocess) against the fake
Discord: the metrics endpoint on 127.0.0.1 and the question log as ``serve`` sets them
up, and a bad setting as one line at start-up."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from retrieval.corpus import Corpus
from tests.fakediscord import FakeDiscord, ThreadedFake
from tests.test_bot_e2e import Live, bot_env, stop_bot

pytestmark = pytest.mark.e2e

TOKEN = "FAKE.admin-e2e-token.never-logged"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int, deadline: float = 30.0) -> str:
    until = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > until:
                raise
            time.sleep(0.2)


def test_serve_logs_questions_and_serves_metrics(tmp_path: Path) -> None:
    db = tmp_path / "corpus.db"
    Corpus.open(db, create=True).close()
    port = free_port()
    fake = FakeDiscord(token=TOKEN, heartbeat_interval=1.0)
    log = tmp_path / "bot.log"
    with ThreadedFake(fake) as thread:
        env = bot_env(fake, db, TOKEN) | {"CORPUSBOT_METRICS_PORT": str(port)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--sync"],
            cwd=tmp_path,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        live = Live(fake, thread, proc, db, log)
        try:
            live.wait(lambda: fake.session_id and fake.connected, timeout=60)
            live.ask("Which tourism year was launched in Kazakhstan in 2017?", 4242)
            live.ask("zebra quantum chromodynamics", 4242)
            text = scrape(port)
        finally:
            stop_bot(proc)
    assert 'corpusbot_questions_total{status="answered"} 1.0' in text
    assert 'corpusbot_questions_total{status="not_found"} 1.0' in text
    assert "corpusbot_question_seconds_count 2.0" in text
    assert "corpusbot_corpus_articles 5.0" in text
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT status, source, user_hash FROM questions ORDER BY id"
        ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("answered", "discord"), ("not_found", "discord")]
    assert rows[0][2] and "4242" not in rows[0][2]
    output = log.read_text(encoding="utf-8", errors="replace")
    assert TOKEN not in output and "4242" not in output  # the user only as their hash
    lines = [line for line in output.splitlines() if " question user=" in line]
    assert len(lines) == 2 and f"user={rows[0][2]} id=1 status=answered" in lines[0]
    assert f"metrics on http://127.0.0.1:{port}/metrics" in output


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ({"CORPUSBOT_QUERY_LOG": "maybe"}, "CORPUSBOT_QUERY_LOG must be on or off"),
        ({"CORPUSBOT_METRICS_PORT": "metrics"}, "CORPUSBOT_METRICS_PORT must be a port"),
        ({"CORPUSBOT_REFRESH": "often"}, "CORPUSBOT_REFRESH must look like 30m"),
    ],
)
def test_a_bad_admin_setting_is_one_line(tmp_path: Path, setting: dict, says: str) -> None:
    env = bot_env(FakeDiscord(), tmp_path / "x.db", TOKEN)
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env | setting,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("corpusbot: ") and says in line
