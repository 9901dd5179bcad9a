import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval import ingest as ingesting
from retrieval.corpus import Corpus, build
from retrieval.errors import StoreError
from retrieval.ingest import IngestSizes

from .conftest import ROOT, SEEDS

pytestmark = pytest.mark.unit


def counts(path):
    with sqlite3.connect(path) as conn:
        return [
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("articles", "sentences", "terms")
        ]


def test_seed_store_contents(seed_corpus):
    stats = seed_corpus.stats()
    assert stats.articles == 5
    assert stats.sentences > 50 and stats.terms > 300
    for article in seed_corpus.articles():
        text = seed_corpus.article_text(article.id)
        assert text == (SEEDS / article.file).read_text(encoding="utf-8")  # stored complete
        for s in seed_corpus.store.article_sentences(article.id):
            assert text[s.start : s.end] == s.text


def test_reingesting_unchanged_files_changes_nothing(corpus_path):
    before = counts(corpus_path)
    with Corpus.open(corpus_path) as corpus:
        totals = corpus.store.totals()
        report = corpus.ingest([SEEDS])
        assert report.added == [] and report.replaced == []
        assert len(report.unchanged) == 5
        assert corpus.store.totals() == totals
    assert counts(corpus_path) == before


def test_build_is_atomic_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "new.db"
    report = build(path, [SEEDS])
    assert len(report.added) == 5
    assert path.exists()
    assert not list(tmp_path.glob("*.building*"))


def test_build_without_a_corpus_folder_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no corpus to build it from"):
        build(tmp_path / "x.db", [tmp_path / "missing"])


def test_missing_database_without_create(tmp_path):
    with pytest.raises(StoreError, match="no database at"):
        Corpus.open(tmp_path / "none.db", create=False)


def test_not_sqlite_is_a_one_line_error(tmp_path):
    path = tmp_path / "bad.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError) as err:
        Corpus.open(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert path.read_bytes().startswith(b"this is not")  # untouched


def test_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    with pytest.raises(StoreError, match="not a corpusbot database"):
        Corpus.open(path)


def test_question_reads_are_memory_mapped(corpus_path):
    # A question's reader connection maps the file (the pool's pages read in place);
    # the connection that writes does not need to.
    with Corpus.open(corpus_path, reranker="none") as corpus, corpus.store.read():
        corpus.ask("Kazakhstan tourism")
        assert corpus.store._local.conn.execute("PRAGMA mmap_size").fetchone()[0] > 0


def _sync_children(monkeypatch) -> list:
    """Record the child processes Store.synced_in_background starts."""
    started = []
    real = subprocess.Popen

    def popen(*args, **kwargs):
        child = real(*args, **kwargs)
        started.append(child)
        return child

    monkeypatch.setattr(subprocess, "Popen", popen)
    return started


def test_written_pages_are_synced_by_a_child_process_while_a_write_runs(tmp_path, monkeypatch):
    """Store.synced_in_background: a child process fsyncs the file during the block
    (never a thread of this process: closing a second descriptor here would drop
    SQLite's locks), and is gone when the block ends, even if the block fails."""
    started = _sync_children(monkeypatch)
    with Corpus.create(tmp_path / "c.db") as corpus:
        store = corpus.store
        with store.synced_in_background(every=0.01):
            (child,) = started
            assert child.poll() is None
            assert str(store.path) in child.args
            with store.write():
                store.conn.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        assert child.returncode == 0
        with pytest.raises(RuntimeError), store.synced_in_background(every=0.01):
            raise RuntimeError("ingest failed")
        assert started[1].returncode == 0
        # A large ingest (at least IngestSizes.parallel_bytes) syncs in the background
        # too; a small one leaves it to the commit.
        corpus.ingest([SEEDS], workers=0)
        assert len(started) == 2
        ingesting.ingest(store, [SEEDS], sizes=IngestSizes(parallel_bytes=0), workers=2)
        assert [c.returncode for c in started[2:]] == [0]
        assert corpus.stats().articles == 5
    with sqlite3.connect(tmp_path / "c.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT value FROM meta WHERE key = 'x'").fetchone() == ("y",)


KILLED_WRITER = """
import sys, time
from retrieval.store import Store
store = Store.open(sys.argv[1])
with store.synced_in_background(every=0.01):
    print("syncing", flush=True)
    time.sleep(120)
"""


def test_the_sync_child_ends_with_a_killed_parent(tmp_path):
    """kill -9 of the writing process: its sync child sees its input end, and exits."""
    Corpus.create(tmp_path / "c.db").close()
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path / "c.db")],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert parent.stdout.readline().strip() == "syncing"
    children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children").read_text().split()
    assert len(children) == 1
    child = int(children[0])
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=60)
    for _ in range(500):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # Not our child: init reaps it once it exits; a zombie still answers kill(0).
        state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            break
        time.sleep(0.02)
    else:
        raise AssertionError("the sync child outlived its parent")
