"""The question log (retrieval/querylog.py) on real SQLite files built from the seeds."""

from __future__ import annotations

import logging
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrieval.corpus import Corpus
from retrieval.errors import StoreError
from retrieval.querylog import QueryLog, Settings, load_salt, salt_path_for, settings
from tests.conftest import ROOT
from tests.test_hardening_e2e import without_root_powers

pytestmark = pytest.mark.unit

QUESTION = "which tourism year was launched in kazakhstan in 2017"


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_record_and_get_an_answer(corpus_path: Path) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        answer = corpus.ask(QUESTION, k=3)
        qid = qlog.record(
            answer,
            k=3,
            latency_ms=12.5,
            backend="sqlite",
            source="discord",
            guild_id=13,
            channel_id=14,
            user_id=4242,
        )
        assert isinstance(qid, int)
        asked = qlog.get(qid)
    assert asked is not None
    assert asked.question == QUESTION and asked.status == "answered"
    assert (asked.k, asked.offset, asked.backend, asked.source) == (3, 0, "sqlite", "discord")
    assert (asked.guild_id, asked.channel_id, asked.latency_ms) == ("13", "14", 12.5)
    assert asked.shown == tuple((h.sentence.id, round(h.score, 6)) for h in answer.hits)
    assert [q.text for q in asked.quoted] == [h.sentence.text for h in answer.hits]
    assert [q.file for q in asked.quoted] == [h.article.file for h in answer.hits]
    datetime.fromisoformat(asked.asked_at)  # ISO-8601
    assert asked.asked_at.endswith("+00:00")
    # The raw id is stored nowhere; the hash is stable for one user and differs between users.
    assert asked.user_hash and "4242" not in asked.user_hash
    with sqlite3.connect(corpus_path) as conn:
        row = conn.execute("SELECT * FROM questions WHERE id = ?", (qid,)).fetchone()
    assert "4242" not in " ".join(str(v) for v in row)
    with QueryLog(corpus_path) as again:
        assert again.user_hash(4242) == asked.user_hash
        assert again.user_hash(4243) != asked.user_hash
    # The corpus's older tables are untouched and the store still opens and answers.
    assert {"questions", "votes", "feedback", "articles"} <= tables(corpus_path)
    with Corpus.open(corpus_path) as corpus:
        assert corpus.ask(QUESTION, k=3) == answer


def test_a_question_asked_within_one_article_keeps_its_article(corpus_path: Path) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        scoped = corpus.ask(QUESTION, article_id=3)
        whole = corpus.ask(QUESTION)
        ids = [qlog.record(a, k=3, latency_ms=1.0, backend="sqlite", source="cli")
               for a in (scoped, whole)]  # fmt: skip
        assert [qlog.get(i).within_article for i in ids] == [3, None]


def test_the_misspelt_words_read_are_logged_beside_the_question_as_typed(
    corpus_path: Path,
) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        typed = corpus.ask("how many contries take part in the exppo")
        right = corpus.ask(QUESTION)
        ids = [qlog.record(a, k=3, latency_ms=1.0, backend="sqlite", source="cli")
               for a in (typed, right)]  # fmt: skip
        first, second = (qlog.get(i) for i in ids)
    assert first.question == "how many contries take part in the exppo"
    assert first.read_as == (("contries", "countries"), ("exppo", "expo"))
    assert second.read_as == ()
    with sqlite3.connect(corpus_path) as conn:
        stored = [r for (r,) in conn.execute("SELECT read_as FROM questions ORDER BY id")]
    assert stored == ['[["contries", "countries"], ["exppo", "expo"]]', None]


@pytest.mark.parametrize("column", ["within_article", "read_as"])
def test_a_log_from_before_a_column_gains_it(corpus_path: Path, column: str) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        old = qlog.record(corpus.ask(QUESTION), k=3, latency_ms=1.0, backend="sqlite", source="cli")
    with sqlite3.connect(corpus_path) as conn:  # as the previous version left it
        conn.execute(f"ALTER TABLE questions DROP COLUMN {column}")
    with QueryLog(corpus_path) as qlog:
        assert qlog.get(old).question == QUESTION  # readable before any write
        assert (qlog.get(old).within_article, qlog.get(old).read_as) == (None, ())
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        new = qlog.record(corpus.ask("exppo", article_id=3), k=3, latency_ms=1.0,
                          backend="sqlite", source="cli")  # fmt: skip
        assert (qlog.get(old).within_article, qlog.get(new).within_article) == (None, 3)
        assert qlog.get(new).read_as == (("exppo", "expo"),)
        assert qlog.get(old).question == QUESTION  # the old row kept its values


def test_not_found_and_invalid_are_logged_with_nothing_shown(corpus_path: Path) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        for question, status in [("zebra quantum chromodynamics", "not_found"), ("   ", "invalid")]:
            answer = corpus.ask(question)
            qid = qlog.record(answer, k=3, latency_ms=1, backend="sqlite", source="cli")
            asked = qlog.get(qid)
            assert asked is not None and asked.status == status and asked.shown == ()
            assert asked.user_hash is None and asked.guild_id is None


def test_the_salt_is_a_private_file_beside_the_database(corpus_path: Path) -> None:
    salt = salt_path_for(corpus_path)
    assert salt == corpus_path.with_name("corpus.db.salt") and not salt.exists()
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        qlog.record(corpus.ask(QUESTION), k=3, latency_ms=1, backend="sqlite", source="discord",
                    user_id=1)  # fmt: skip
        first = qlog.user_hash(1)
    assert stat.S_IMODE(salt.stat().st_mode) == 0o600
    assert len(load_salt(salt)) == 32
    # Another salt (another deployment) gives other hashes for the same user.
    other = corpus_path.with_name("other.salt")
    with QueryLog(corpus_path, salt_path=other) as qlog:
        assert qlog.user_hash(1) != first
    assert salt.read_text() != other.read_text()


def test_a_disabled_log_stores_nothing(corpus_path: Path) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path, enabled=False) as qlog:
        answer = corpus.ask(QUESTION)
        assert (
            qlog.record(answer, k=3, latency_ms=1, backend="sqlite", source="cli", user_id=1)
            is None
        )
        assert qlog.vote(1, 1, +1) == "unknown"
        assert qlog.purge(0) == 0
    assert "questions" not in tables(corpus_path)
    assert not salt_path_for(corpus_path).exists()


def test_one_vote_per_person_per_question(corpus_path: Path) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        qid = qlog.record(corpus.ask(QUESTION), k=3, latency_ms=1, backend="sqlite", source="cli")
        assert qid is not None
        assert qlog.vote(qid, 7, +1) == "recorded"
        assert qlog.vote(qid, 7, +1) == "unchanged"
        assert qlog.vote(qid, 7, -1, "wrong year") == "changed"
        assert qlog.vote(qid, 7, -1) == "unchanged"  # the reason given before stays
        assert qlog.vote(qid, 8, -1, "  ") == "recorded"
        assert qlog.vote(qid + 1000, 7, +1) == "unknown"
        assert qlog.vote(2**70, 7, +1) == "unknown"  # a crafted id names no row
        assert qlog.get(2**70) is None
        with pytest.raises(ValueError):
            qlog.vote(qid, 7, 0)
        votes = qlog.votes()
    assert {(v.vote, v.reason) for v in votes} == {(-1, "wrong year"), (-1, None)}
    assert len({v.user_hash for v in votes}) == 2 and all(v.question_id == qid for v in votes)
    with sqlite3.connect(corpus_path) as conn:
        assert conn.execute("SELECT count(*) FROM votes").fetchone()[0] == 2


def test_purge_deletes_old_questions_and_their_votes(corpus_path: Path) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        answer = corpus.ask(QUESTION)
        ids = [
            qlog.record(answer, k=3, latency_ms=1, backend="sqlite", source="cli") for _ in range(3)
        ]
        for qid in ids:
            qlog.vote(qid, 1, +1)
        old = (datetime.now(UTC) - timedelta(days=91)).isoformat(timespec="seconds")
        edge = (datetime.now(UTC) - timedelta(days=89)).isoformat(timespec="seconds")
        with sqlite3.connect(corpus_path) as conn:
            conn.execute("UPDATE questions SET asked_at = ? WHERE id = ?", (old, ids[0]))
            conn.execute("UPDATE questions SET asked_at = ? WHERE id = ?", (edge, ids[1]))
        assert qlog.purge(90) == 1
        assert qlog.get(ids[0]) is None and qlog.get(ids[1]) is not None
        assert {v.question_id for v in qlog.votes()} == {ids[1], ids[2]}
        assert qlog.purge(90) == 0
        with pytest.raises(ValueError):
            qlog.purge(-1)
    # Retention applies with recording off too: rows logged before still age out.
    with QueryLog(corpus_path, enabled=False) as off:
        with sqlite3.connect(corpus_path) as conn:
            conn.execute("UPDATE questions SET asked_at = ?", (old,))
        assert off.purge(90) == 2
        assert off.questions() == []


def test_questions_since(corpus_path: Path) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        assert qlog.questions() == []  # no table yet: nothing logged, nothing made
        assert "questions" not in tables(corpus_path)
        a = qlog.record(corpus.ask(QUESTION), k=3, latency_ms=1, backend="sqlite", source="cli")
        b = qlog.record(
            corpus.ask("astana expo"), k=3, latency_ms=1, backend="sqlite", source="cli"
        )
        with sqlite3.connect(corpus_path) as conn:
            conn.execute(
                "UPDATE questions SET asked_at = '2020-01-01T00:00:00+00:00' WHERE id = ?", (a,)
            )
        assert [q.id for q in qlog.questions()] == [a, b]
        assert [q.id for q in qlog.questions(since="2021-01-01")] == [b]


def test_a_locked_database_never_breaks_answering(
    corpus_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another writer (an ingest) holds the file's write lock: the question is answered,
    the row is given up after the busy timeout, and one warning says so."""
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path, busy_timeout=0.05) as qlog:
        holder = sqlite3.connect(corpus_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            answer = corpus.ask(QUESTION)
            with caplog.at_level(logging.WARNING, logger="corpusbot.querylog"):
                qid = qlog.record(answer, k=3, latency_ms=1, backend="sqlite", source="discord")
            assert qid is None and answer.answered
            assert any("question not logged" in r.message and "locked" in r.message
                       for r in caplog.records)  # fmt: skip
            with pytest.raises(StoreError, match="vote could not be saved"):
                qlog.vote(1, 1, +1)
            assert qlog.purge(0) == 0
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # Once the lock is gone the same log works again.
        assert qlog.record(answer, k=3, latency_ms=1, backend="sqlite", source="discord")


_READ_ONLY_SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from retrieval.corpus import Corpus
from retrieval.querylog import QueryLog
with Corpus.open(sys.argv[1]) as corpus, QueryLog(sys.argv[1]) as qlog:
    answer = corpus.ask("which tourism year was launched in kazakhstan in 2017")
    print(qlog.record(answer, k=3, latency_ms=1, backend="sqlite", source="cli", user_id=1))
    print(answer.status, len(answer.hits))
"""


def test_a_read_only_database_is_answered_and_not_logged(seed_db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "corpus.db"
    db.write_bytes(seed_db.read_bytes())
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _READ_ONLY_SCRIPT, str(db)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            preexec_fn=without_root_powers,
        )
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0, done.stderr
    logged, status, hits = done.stdout.split()
    assert (logged, status) == ("None", "answered") and int(hits) > 0
    assert "question not logged" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["corpus.db"]


def test_recording_from_many_threads(corpus_path: Path) -> None:
    with Corpus.open(corpus_path) as corpus, QueryLog(corpus_path) as qlog:
        answer = corpus.ask(QUESTION)
        ids: list[int | None] = []

        def work(user: int) -> None:
            for _ in range(15):
                ids.append(
                    qlog.record(
                        answer, k=3, latency_ms=1, backend="sqlite", source="discord", user_id=user
                    )
                )

        threads = [threading.Thread(target=work, args=(u,)) for u in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert None not in ids and len(set(ids)) == 90
        assert len(qlog.questions()) == 90


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, Settings(True, 90)),
        ({"CORPUSBOT_QUERY_LOG": "off"}, Settings(False, 90)),
        ({"CORPUSBOT_QUERY_LOG": "ON", "CORPUSBOT_QUERY_LOG_DAYS": "7"}, Settings(True, 7)),
        ({"CORPUSBOT_QUERY_LOG": "  "}, Settings(True, 90)),
    ],
)
def test_settings(env: dict[str, str], expected: Settings) -> None:
    assert settings(env) == expected


@pytest.mark.parametrize(
    "env",
    [
        {"CORPUSBOT_QUERY_LOG": "maybe"},
        {"CORPUSBOT_QUERY_LOG_DAYS": "0"},
        {"CORPUSBOT_QUERY_LOG_DAYS": "ninety"},
    ],
)
def test_bad_settings_are_one_line(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="CORPUSBOT_QUERY_LOG") as err:
        settings(env)
    assert "\n" not in str(err.value)


def test_a_missing_database_is_never_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with QueryLog(missing) as qlog:
        from retrieval.models import Answer, Status

        assert qlog.record(Answer("q", Status.NOT_FOUND), k=3, latency_ms=1, backend="sqlite",
                           source="cli") is None  # fmt: skip
        with pytest.raises(StoreError, match="no database"):
            qlog.questions()
    assert not missing.exists()
