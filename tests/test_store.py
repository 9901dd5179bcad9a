import sqlite3

import pytest

from retrieval.corpus import Corpus, build
from retrieval.errors import StoreError

from .conftest import SEEDS


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


def test_feedback_is_stored(corpus_path):
    with Corpus.open(corpus_path) as corpus:
        corpus.record_feedback(question="q?", sentence_ids=[3, 4], user_id="42", vote=-1)
        with pytest.raises(ValueError):
            corpus.record_feedback(question="q?", sentence_ids=[], user_id="42", vote=5)
    with sqlite3.connect(corpus_path) as conn:
        rows = conn.execute("SELECT user_id, question, sentence_ids, vote FROM feedback").fetchall()
    assert rows == [("42", "q?", "[3, 4]", -1)]


def test_question_reads_are_memory_mapped(corpus_path):
    # A question's reader connection maps the file (the pool's pages read in place);
    # the connection that writes does not need to.
    with Corpus.open(corpus_path, reranker="none") as corpus, corpus.store.read():
        corpus.ask("Kazakhstan tourism")
        assert corpus.store._local.conn.execute("PRAGMA mmap_size").fetchone()[0] > 0
