"""The real bot (a subprocess) under load, under Discord faults and with broken databases.

Same harness as ``test_bot_e2e``: the fake Discord of :mod:`tests.fakediscord` on
127.0.0.1, the bot found through ``DISCORD_API_BASE``/``DISCORD_GATEWAY_URL``. The time
limits asserted are Discord's own: the first response to an interaction within 3 s, and a
heartbeat at least once every heartbeat interval plus a tolerance, without a reconnect.
"""

from __future__ import annotations

import ctypes
import itertools
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrieval.corpus import Corpus
from tests.conftest import SEEDS
from tests.fakediscord import (
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    EPHEMERAL,
    FakeDiscord,
    Fault,
    ThreadedFake,
)
from tests.test_bot_commands import question_with_pages
from tests.test_bot_e2e import (
    SEED_QUESTION,
    SEED_QUOTE,
    Live,
    bot_env,
    button,
    running_bot,
    start_bot,
    stop_bot,
    unbold,
)
from tests.test_hardening_render import write_hostile_article

pytestmark = pytest.mark.hostile

TOKEN = "FAKE.hardening-token.never-shown-5d1e0b"
HEARTBEAT = 0.1  # seconds: several beats fall within the load burst (~0.5 s)
DEADLINE = 3.0  # Discord: the first response to an interaction within 3 seconds
# How late a heartbeat may be before a gateway would count the connection as dead. Discord
# publishes no figure (it closes zombie connections after "a while"; discord.py itself only
# warns after 10 s). The fake's interval is 0.1 s instead of Discord's 41.25 s, but a busy
# 2-core machine delays threads by the same absolute time at either interval (up to ~1.4 s
# measured under five parallel test runs), so the tolerance is absolute: a blocked event
# loop shows as a silence longer than the 3 s any interaction may wait for its answer.
HEARTBEAT_TOLERANCE = DEADLINE - HEARTBEAT
LOAD = 200

_libc = ctypes.CDLL(None, use_errno=True)


def without_root_powers() -> None:
    """preexec_fn: drop CAP_DAC_OVERRIDE/READ_SEARCH so file modes bind even for root."""
    for cap in (1, 2):  # PR_CAPBSET_DROP (24); the caps go at exec
        _libc.prctl(24, cap, 0, 0, 0)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A bot on the seeds plus one hostile article (mentions, markdown, links)."""
    work = tmp_path_factory.mktemp("hardening")
    src = tmp_path_factory.mktemp("hostile-src")
    write_hostile_article(src)
    db = work / "corpus.db"
    with Corpus.create(db) as corpus:
        corpus.ingest([SEEDS, src])
    with running_bot(work, db, TOKEN, HEARTBEAT) as state:
        yield state


def wait_for_log(live: Live, pattern: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = live.log.read_text(encoding="utf-8", errors="replace")
        if re.search(pattern, text):
            return text
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} never appeared in the bot's log")


def for_token(token: str, *, kind: str = "") -> callable:
    """A Fault matcher: REST requests of one interaction (callback or webhooks)."""

    def matches(method: str, path: str) -> bool:
        if kind == "callback":
            return path.endswith(f"/{token}/callback")
        if kind == "followup":
            return path.startswith("/webhooks/") and f"/{token}" in path
        return f"/{token}" in path

    return matches


# ---------------------------------------------------------------------------- hostile text


def test_hostile_questions_and_corpus_text_reach_discord_inert(live: Live) -> None:
    fake = live.fake
    question = "@everyone <@123> <@&role> ```x``` ||Zanzibar|| [x](http://evil.example) notice"
    answer = live.ask(question, 3001)
    (embed,) = answer.embeds
    shown = "\n".join(
        [embed["title"], embed["description"], *(f["value"] for f in embed.get("fields", []))]
    )
    assert "Zanzibar harbour notice" in unbold(shown)  # the hostile article was found and quoted
    assert not re.search(r"@(everyone|here)|<(?!\u200b)|://", shown)
    # Mentions, spoilers, code and link markup were taken out before searching.
    assert "||" not in embed["title"] and "`" not in embed["title"] and "evil" not in embed["title"]

    article = live.reply(live.send(fake.slash("source", 3001, article="zanzibar.txt")))
    page = article.embeds[0]
    assert "@\u200beveryone" in page["description"] and "https:\u200b//evil" in page["description"]
    assert not re.search(r"@(everyone|here)|<(?!\u200b)|://", page["title"] + page["description"])
    ((_, attached),) = article.files  # the attachment is the article exactly as stored
    assert b"@everyone <@123456789012345678>" in attached

    for name in ("../../etc/passwd", "/etc/passwd", "x" * 100_000):
        reply = live.reply(live.send(fake.slash("source", 3002, article=name)))
        assert reply.ephemeral and not reply.files
        assert "No article matches" in reply.text or "Several articles match" in reply.text
        assert "root:" not in reply.text and len(reply.text) <= 2000


# ---------------------------------------------------------------------------- load


@pytest.mark.load
def test_200_concurrent_asks_all_answered_within_discords_deadline(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = live.fake
    questions = [
        SEED_QUESTION,
        "China Kazakhstan cooperation",
        "Astana Expo energy",
        "zebra quantum chromodynamics",
        "@everyone ||Zanzibar|| notice",
    ]
    connections = live.call(lambda: fake.connections)
    beats = live.call(lambda: len(fake.heartbeats))
    burst = [
        fake.slash("ask", 10_000 + i, question=questions[i % len(questions)]) for i in range(LOAD)
    ]
    started = time.monotonic()
    live.thread.run(fake.send_many(burst))
    live.wait(lambda: all(fake.answer(i.token) for i in burst), timeout=50)
    elapsed = time.monotonic() - started

    def first_and_answer(token: str, sent_at: float) -> tuple[float, float]:
        first = fake.sent_for(token)[0]
        return first.at - sent_at, fake.answer(token).at - sent_at

    timings = live.call(lambda: [first_and_answer(i.token, i.dispatched_at) for i in burst])
    firsts = sorted(t[0] for t in timings)
    answers = sorted(t[1] for t in timings)
    firsts_sent = live.call(lambda: [fake.sent_for(i.token)[0] for i in burst])
    replies = live.call(lambda: [fake.answer(i.token) for i in burst])
    beat_times = live.call(lambda: fake.heartbeats[beats:])
    heartbeats = len(beat_times)
    # The longest silence of the gateway during the burst, its start and end included: a
    # blocked event loop shows up here as a gap of several heartbeat intervals.
    points = [started, *beat_times, started + elapsed]
    silence = max(b - a for a, b in itertools.pairwise(points))

    def dist(values: list[float]) -> str:
        p95 = values[int(0.95 * (len(values) - 1))]
        return (
            f"p50 {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {values[-1] * 1000:.0f} ms"
        )

    with capsys.disabled():
        print(
            f"\n[load] {LOAD} concurrent /ask in {elapsed:.1f} s; "
            f"first response: {dist(firsts)}; full answer: {dist(answers)}; "
            f"{heartbeats} heartbeats during the burst, longest silence {silence:.2f} s"
        )
    deferred = sum(f.callback_type == DEFERRED_CHANNEL_MESSAGE for f in firsts_sent)
    with capsys.disabled():
        print(f"[load] answered in the first response: {LOAD - deferred}, deferred: {deferred}")
    for first in firsts_sent:
        # The answer itself, or a private "thinking…" (never a public one).
        assert first.callback_type in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE)
        if first.callback_type == DEFERRED_CHANNEL_MESSAGE:
            assert first.body["data"]["flags"] & EPHEMERAL
    assert all(r is not None and r.embeds for r in replies)  # and every one answered
    assert firsts[-1] <= DEADLINE, dist(firsts)
    assert live.call(lambda: fake.connections) == connections  # heartbeats never lapsed
    assert silence <= HEARTBEAT + HEARTBEAT_TOLERANCE  # the event loop was never blocked
    assert "heartbeat blocked" not in live.log.read_text(encoding="utf-8", errors="replace")


# ---------------------------------------------------------------------------- Discord faults


def more_of(live: Live, user_id: int) -> Any:
    """A ``More`` press on a fresh answer (not yet sent): it defers, then follows up."""
    with Corpus.open(live.db, create=False) as corpus:
        paged, _ = question_with_pages(corpus, 2, 100)
    message = live.ask(paged, user_id).message
    return live.fake.click(message, button(message, "More")["custom_id"], user_id)


def test_429_on_the_first_response_and_a_follow_up_is_waited_out(live: Live) -> None:
    fake = live.fake
    ask = fake.slash("ask", 3101, question=SEED_QUESTION)
    on_callback = Fault.rate_limited(for_token(ask.token, kind="callback"), retry_after=0.4)
    live.call(lambda: fake.faults.append(on_callback))
    answer = live.answer(live.send(ask))
    assert SEED_QUOTE in unbold(answer.embeds[0]["description"])
    assert len(on_callback.hits) == 1
    first = live.call(lambda: fake.sent_for(ask.token)[0])
    assert first.at - ask.dispatched_at <= DEADLINE  # retried after 0.4 s: still in time
    wait_for_log(live, r"rate limited\. Retrying in 0\.40 seconds")

    more = more_of(live, 3105)
    on_followup = Fault.rate_limited(for_token(more.token, kind="followup"), retry_after=0.4)
    live.call(lambda: fake.faults.append(on_followup))
    page = live.answer(live.send(more))
    assert page.embeds[0]["footer"]["text"].startswith("Quotes 4–")
    assert len(on_followup.hits) == 1


def test_a_follow_up_500_is_retried(live: Live) -> None:
    fake = live.fake
    more = more_of(live, 3102)
    fault = Fault(for_token(more.token, kind="followup"), 500, {"message": "500: Internal"})
    live.call(lambda: fake.faults.append(fault))
    assert live.answer(live.send(more)).embeds[0]["footer"]["text"].startswith("Quotes 4–")
    assert len(fault.hits) == 1


def test_a_follow_up_that_keeps_failing_is_logged_and_the_bot_keeps_serving(live: Live) -> None:
    fake = live.fake
    more = more_of(live, 3103)
    gone = Fault(
        for_token(more.token, kind="followup"),
        404,
        {"message": "Unknown Webhook", "code": 10015},
        times=10,
    )
    live.call(lambda: fake.faults.append(gone))
    live.send(more)
    log = wait_for_log(live, r"could not tell the user about an error: 404")
    assert re.search(r"unhandled error in component .*\n(.*\n)*.*NotFound: 404 Not Found", log)
    assert live.proc.poll() is None
    assert SEED_QUOTE in unbold(live.ask(SEED_QUESTION, 3104).embeds[0]["description"])


def test_a_gateway_drop_mid_burst_loses_nothing(live: Live) -> None:
    fake = live.fake
    burst = [fake.slash("ask", 3200 + i, question=SEED_QUESTION) for i in range(10)]
    live.thread.run(fake.send_many(burst[:5]))
    live.thread.run(fake.drop(4000))
    live.thread.run(fake.send_many(burst[5:]))  # sent while disconnected: replayed on RESUME
    for interaction in burst:
        assert SEED_QUOTE in unbold(live.answer(interaction, timeout=30).text)


def test_the_token_never_reaches_the_log(live: Live) -> None:
    assert TOKEN not in live.log.read_text(encoding="utf-8", errors="replace")


# ---------------------------------------------------------------------------- broken databases


def run_bot(fake: FakeDiscord, db: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=cwd,
        env=bot_env(fake, db, fake.token) | env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("corpusbot:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no database at"),
        (b"", "not a corpusbot database"),
        (b"hello, I am a text file\n" * 200, "file is not a database"),
        (b"SQLite format 3\x00" + b"\xff" * 4000, "file is not a database"),
    ],
    ids=["missing", "empty", "not-sqlite", "garbage-after-header"],
)
def test_an_unusable_database_stops_the_bot_with_one_line(
    live: Live, tmp_path: Path, content: bytes | None, says: str
) -> None:
    db = tmp_path / "corpus.db"
    if content is not None:
        db.write_bytes(content)
    _assert_bot_refuses(live, db, tmp_path, says)


def test_a_truncated_database_stops_the_bot_with_one_line(
    live: Live, seed_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "corpus.db"
    shutil.copy(seed_db, db)
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)
    _assert_bot_refuses(live, db, tmp_path, "database disk image is malformed")


def _assert_bot_refuses(live: Live, db: Path, tmp_path: Path, says: str) -> None:
    done = run_bot(live.fake, db, tmp_path, CORPUSBOT_SEEDS=str(tmp_path / "no-seeds"))
    line = one_error_line(done)
    assert says in line, line
    assert TOKEN not in done.stdout + done.stderr


def _broken_bot(tmp_path: Path, db: Path, **popen) -> tuple[Live, ThreadedFake]:
    fake = FakeDiscord(token=TOKEN, heartbeat_interval=HEARTBEAT)
    thread = ThreadedFake(fake).__enter__()
    proc = start_bot(fake, db, tmp_path, tmp_path / "bot.log", **popen)
    live = Live(fake, thread, proc, db, tmp_path / "bot.log")
    live.wait(lambda: fake.session_id and fake.connected, timeout=60)
    return live, thread


def test_a_read_only_database_still_answers_without_votes_or_more(
    seed_db: Path, tmp_path: Path
) -> None:
    """Nothing can be kept in a read-only file: answers come without the buttons that need
    the question log (votes, More), and the rest of them work."""
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "corpus.db"
    shutil.copy(seed_db, db)
    db.chmod(0o444)
    folder.chmod(0o555)  # no -wal/-shm can be created next to it
    live, thread = _broken_bot(tmp_path, db, preexec_fn=without_root_powers)
    try:
        answer = live.ask(SEED_QUESTION, 1)
        assert SEED_QUOTE in unbold(answer.embeds[0]["description"])
        message = answer.message
        assert message is not None
        names = [c.get("label") for row in message["components"] for c in row["components"]]
        assert names == ["Context", "Read the article"]
        context = live.click(message, "Context", 1)
        assert context.ephemeral and SEED_QUOTE in context.embeds[0]["description"]
        assert live.proc.poll() is None
        assert "question not logged" in live.log.read_text(encoding="utf-8", errors="replace")
    finally:
        stop_bot(live.proc)
        thread.__exit__()
        folder.chmod(0o755)


# ---------------------------------------------------------------------------- tokens


@pytest.mark.parametrize(
    "token",
    [
        "REJECTED.token-with-secret-part-9a8b7c",  # REST says 401
        "GATEWAY.rejects-this-one-4f4f4f",  # REST accepts, IDENTIFY gets 4004
        "bad\ntoken-with-a-newline-1234abcd",  # cannot even be sent as a header
        "x" * 5000,
    ],
    ids=["rest-401", "gateway-4004", "newline", "huge"],
)
def test_a_bad_token_is_one_line_and_never_printed(live: Live, tmp_path: Path, token: str) -> None:
    fake = live.fake
    if token.startswith("GATEWAY"):
        live.call(lambda: fake.rest_tokens.add(token))
    db = tmp_path / "corpus.db"
    shutil.copy(live.db, db)
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=bot_env(fake, db, token),
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = one_error_line(done)
    assert "DISCORD_TOKEN" in line or "Discord" in line, line
    for secret in {token, token.strip(), *token.split("\n")}:
        if len(secret) >= 8:
            assert secret not in done.stdout + done.stderr


def test_dotenv_is_git_ignored() -> None:
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=root, capture_output=True, timeout=30
    )
    assert done.returncode == 0
