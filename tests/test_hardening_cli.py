"""The ``corpusbot`` CLI and the store with broken, read-only and full databases.

Each fault gets one line on stderr (``corpusbot: error: …``) and exit status 1; a failed
ingest leaves the previous corpus intact: ``PRAGMA integrity_check`` passes and every
earlier article still answers.
"""

from __future__ import annotations

import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.corpus import Corpus
from retrieval.errors import StoreError
from tests.conftest import ROOT
from tests.test_cli import ACCEPTANCE, run
from tests.test_hardening_e2e import without_root_powers

pytestmark = pytest.mark.hostile

QUOTE = "The China Tourism Year that has been launched in Kazakhstan in 2017"


def one_error_line(done) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corpusbot: error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no database at"),
        (b"", "not a corpusbot database"),
        (b"just some text\n" * 300, "file is not a database"),
        ("truncated", "database disk image is malformed"),
    ],
    ids=["missing", "empty", "not-sqlite", "truncated"],
)
def test_an_unusable_database_is_one_line(seed_db, tmp_path, content, says) -> None:
    db = tmp_path / "corpus.db"
    if content == "truncated":
        shutil.copy(seed_db, db)
        with db.open("r+b") as f:
            f.truncate(db.stat().st_size // 2)
    elif content is not None:
        db.write_bytes(content)
    done = run("ask", ACCEPTANCE, db=db, env={"CORPUSBOT_SEEDS": str(tmp_path / "none")})
    assert says in one_error_line(done)


def test_path_like_and_huge_source_names_are_not_found(corpus_path) -> None:
    for name in ("../../etc/passwd", "/etc/passwd", "x" * 50_000):
        done = run("source", name, db=corpus_path)
        assert done.returncode == 1 and "No " in done.stdout
        assert "root:" not in done.stdout


@pytest.fixture
def read_only_db(seed_db: Path, tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "corpus.db"
    shutil.copy(seed_db, db)
    db.chmod(0o444)
    folder.chmod(0o555)  # SQLite cannot create -wal or -shm here
    yield db
    folder.chmod(0o755)


def test_a_read_only_database_still_answers(read_only_db: Path) -> None:
    done = run_as(["ask", ACCEPTANCE], read_only_db)
    assert done.returncode == 0 and QUOTE in done.stdout, done.stderr
    assert sorted(p.name for p in read_only_db.parent.iterdir()) == ["corpus.db"]


def test_ingest_into_a_read_only_database_is_one_line(read_only_db: Path, tmp_path: Path) -> None:
    src = tmp_path / "new"
    src.mkdir()
    (src / "new.txt").write_text("A new article.\n\nIt says something new about Almaty.\n")
    done = run_as(["ingest", str(src)], read_only_db)
    assert "read-only: nothing can be saved" in one_error_line(done)


def run_as(args: list[str], db: Path, preexec=without_root_powers):
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        preexec_fn=preexec,
    )


# ---------------------------------------------------------------------------- disk full


def big_folder(tmp_path: Path, articles: int = 40) -> Path:
    src = tmp_path / "big"
    src.mkdir()
    for i in range(articles):
        words = " ".join(f"word{i}x{j}" for j in range(40))
        body = "\n\n".join(f"Sentence {k} of article {i} mentions {words}." for k in range(30))
        (src / f"big{i:03d}.txt").write_text(f"Big article {i}\n\n{body}\n")
    return src


def assert_intact(db: Path, before: tuple) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Corpus.open(db, create=False) as corpus:
        stats = corpus.stats()
        assert (stats.articles, stats.sentences, stats.terms) == before
        assert QUOTE in corpus.ask(ACCEPTANCE).hits[0].sentence.text
        for article in corpus.articles():  # every earlier article is still there, whole
            assert corpus.article_text(article.id)


def test_disk_full_during_ingest_rolls_back(corpus_path: Path, tmp_path: Path) -> None:
    src = big_folder(tmp_path)
    with Corpus.open(corpus_path, create=False) as corpus:
        stats = corpus.stats()
        before = (stats.articles, stats.sentences, stats.terms)
        (pages,) = corpus.store.conn.execute("PRAGMA page_count").fetchone()
        # The "disk" holds 4 more pages than the corpus uses now.
        corpus.store.conn.execute(f"PRAGMA max_page_count = {pages + 4}")
        with pytest.raises(StoreError) as err:
            corpus.ingest([src], workers=0)
        assert "full" in str(err.value) and "\n" not in str(err.value)
        assert QUOTE in corpus.ask(ACCEPTANCE).hits[0].sentence.text  # still serving
    assert_intact(corpus_path, before)


def test_disk_full_during_cli_ingest_is_one_line_and_loses_nothing(
    corpus_path: Path, tmp_path: Path
) -> None:
    src = big_folder(tmp_path)
    with Corpus.open(corpus_path, create=False) as corpus:
        stats = corpus.stats()
        before = (stats.articles, stats.sentences, stats.terms)
    limit = corpus_path.stat().st_size + 64 * 1024

    def small_disk() -> None:
        # No file of this process may grow past `limit` (EFBIG, as on a full disk).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = run_as(["ingest", str(src)], corpus_path, preexec=small_disk)
    line = one_error_line(done)
    assert "full" in line or "disk I/O error" in line, line
    assert_intact(corpus_path, before)


def test_an_article_sentencex_cannot_read_is_ingested(tmp_path: Path) -> None:
    # sentencex 1.0.32 panics on "A", a no-break space, "." (tests/test_segment.py): the
    # ingest went down with a Rust backtrace; the article now goes in with the others.
    src = tmp_path / "in"
    src.mkdir()
    (src / "plan.txt").write_text("Plan A\n\nThey chose Plan A\u00a0. It worked well.\n")
    (src / "other.txt").write_text("Other news\n\nThe harbour bridge opened on Tuesday.\n")
    db = tmp_path / "c.db"
    done = run("ingest", str(src), db=db)
    assert done.returncode == 0, done.stderr
    assert "2 added" in done.stdout + done.stderr
    assert "panicked" not in done.stderr and "Traceback" not in done.stderr
    asked = run("ask", "which plan did they choose", db=db)
    assert "Plan A" in asked.stdout
