"""Nothing stored is lost or wrong: article identity, ids never reused, over-long
sentences, metadata.json checked, HTML dates only when stated, schema migration, and
each question read from one snapshot."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from retrieval.corpus import Corpus
from retrieval.postings import LEN_MAX
from retrieval.rank import rank
from retrieval.text import tokenize

from .conftest import SEEDS

pytestmark = pytest.mark.unit

# Several sentences each: in a corpus of two sentences BM25Okapi gives every word idf 0.
SNOW = (
    "Heavy snow closed the mountain pass on the northern road for a week. "
    "Shepherds moved their flocks down to the villages early. "
    "The weather office expects warmer days by the end of the month.\n"
)
LAKE = (
    "Fishermen on the frozen lake cut holes through ice half a metre thick. "
    "Their catch is sold at the morning market in the town square. "
    "Children skate along the shore after school.\n"
)
HARBOUR = (
    "The harbour master counted forty ferries leaving before dawn on Monday. "
    "Dock workers unloaded grain, timber and cement until noon.\n"
)
SNOW_1 = "Heavy snow closed the mountain pass on the northern road for a week."
LAKE_1 = "Fishermen on the frozen lake cut holes through ice half a metre thick."


def _files(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _found(corpus: Corpus, question: str) -> set[str]:
    return {hit.sentence.text for hit in corpus.ask(question, k=10).hits}


# -- identity ------------------------------------------------------------------------------


def test_two_files_with_the_same_relative_path_are_two_articles(tmp_path):
    _files(tmp_path, {"c1/index.txt": SNOW, "c2/index.txt": LAKE})
    with Corpus.create(tmp_path / "t.db") as corpus:
        report = corpus.ingest([tmp_path / "c1", tmp_path / "c2"], workers=0)
        assert (len(report.added), report.failed) == (2, [])
        assert SNOW_1 in _found(corpus, "mountain pass snow")
        assert LAKE_1 in _found(corpus, "frozen lake ice")
        # Ingesting one of them again changes nothing and never replaces the other.
        again = corpus.ingest([tmp_path / "c2"], workers=0)
        assert (again.added, again.replaced, again.unchanged) == ([], [], ["index.txt"])
        assert SNOW_1 in _found(corpus, "mountain pass snow")
        assert corpus.stats().articles == 2


def test_one_file_named_through_two_roots_is_one_article(tmp_path):
    _files(tmp_path, {"dir/sub/x.txt": SNOW})
    with Corpus.create(tmp_path / "t.db") as corpus:
        corpus.ingest([tmp_path / "dir" / "sub" / "x.txt"], workers=0)
        report = corpus.ingest([tmp_path / "dir"], workers=0)
        assert report.added == [] and report.unchanged == ["sub/x.txt"]
        assert corpus.stats().articles == 1
        # And named twice in one ingest (through a symbolic link too), it goes in once.
        (tmp_path / "link").symlink_to(tmp_path / "dir")
        report = corpus.ingest([tmp_path / "dir", tmp_path / "link/sub/x.txt"], workers=0)
        assert corpus.stats().articles == 1 and report.added == []


def test_a_file_name_shared_by_two_articles_names_neither(tmp_path):
    _files(tmp_path, {"c1/index.txt": SNOW, "c2/index.txt": LAKE})
    with Corpus.create(tmp_path / "t.db") as corpus:
        corpus.ingest([tmp_path / "c1", tmp_path / "c2"], workers=0)
        match = corpus.find_source("index.txt")
        assert match.article is None and len(match.candidates) == 2


def test_article_ids_are_never_reused(tmp_path):
    _files(tmp_path, {"a.txt": SNOW, "b.txt": LAKE, "c.txt": HARBOUR})
    with Corpus.create(tmp_path / "t.db") as corpus:
        corpus.ingest([tmp_path / "a.txt", tmp_path / "b.txt"], workers=0)
        highest = max(a.id for a in corpus.articles())
        corpus.remove(highest)
        corpus.ingest([tmp_path / "c.txt"], workers=0)
        assert max(a.id for a in corpus.articles()) > highest
        assert corpus.store.article(highest) is None


# -- broken input is reported, the rest goes in ----------------------------------------------


def test_an_over_long_sentence_is_left_out_and_the_rest_goes_in(tmp_path):
    huge = " ".join(f"word{i % 5000}" for i in range(LEN_MAX + 5_000))
    feed = tmp_path / "feed.jsonl"
    lines = [
        {"id": "huge", "text": f"Mountain pass news.\n{huge}"},
        {"id": "ok", "text": LAKE},
    ]
    feed.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with Corpus.create(tmp_path / "t.db") as corpus:
        report = corpus.ingest([feed], workers=0)
        assert sorted(report.added) == ["feed.jsonl#huge", "feed.jsonl#ok"]
        assert len(report.failed) == 1
        where, reason = report.failed[0]
        assert where == str(feed) and "feed.jsonl#huge: sentence 2 left out" in reason
        assert LAKE_1 in _found(corpus, "frozen lake ice")
        assert "Mountain pass news." in _found(corpus, "mountain pass news")


def _metadata_report(tmp_path: Path, entry: dict) -> tuple[list, list[str]]:
    folder = _files(tmp_path / "in", {"a.txt": "Heading\n\n" + SNOW, "b.txt": LAKE})
    (folder / "metadata.json").write_text(json.dumps({"a.txt": entry}))
    with Corpus.create(tmp_path / "t.db") as corpus:
        report = corpus.ingest([folder], workers=0)
        return report.failed, [a.file for a in corpus.articles()]


def test_bad_metadata_entries_are_one_skipped_line_naming_file_and_field(tmp_path):
    cases = {
        "exclude-string": ({"exclude": "city"}, '"exclude" must be a list'),
        "title-number": ({"title": 5}, '"title" must be a non-empty string'),
        "date-words": ({"date": "yesterday"}, '"date" is not a date'),
        "url-not-http": ({"url": "javascript:alert(1)"}, '"url" must be an http(s) address'),
        "misspelt": ({"titel": "x"}, 'unknown field "titel"'),
    }
    for name, (entry, says) in cases.items():
        failed, stored = _metadata_report(tmp_path / name, entry)
        assert len(failed) == 1, (name, failed)
        where, reason = failed[0]
        assert where.endswith("a.txt") and says in reason, (name, reason)
        assert stored == ["b.txt"], name  # the bad entry's file is skipped, the rest go in


def test_good_metadata_is_applied_with_an_iso_date(tmp_path):
    failed, _ = _metadata_report(tmp_path, {"date": "7 June 2017", "exclude": ["snow"]})
    assert failed == []
    with Corpus.open(tmp_path / "t.db", create=False) as corpus:
        (a,) = [a for a in corpus.articles() if a.file == "a.txt"]
        assert a.date == "2017-06-07"


def test_a_jsonl_date_that_is_not_a_date_is_reported_never_stored(tmp_path):
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        json.dumps({"id": 1, "text": SNOW, "date": "yesterday"})
        + "\n"
        + json.dumps({"id": 2, "text": LAKE, "date": "March 4, 2021"})
        + "\n"
    )
    with Corpus.create(tmp_path / "t.db") as corpus:
        report = corpus.ingest([feed], workers=0)
        reason = "\"date\" is not a date: 'yesterday' (use YYYY-MM-DD)"
        assert report.failed == [(f"{feed}:1", reason)]
        assert [(a.file, a.date) for a in corpus.articles()] == [("feed.jsonl#2", "2021-03-04")]


def test_an_html_page_without_a_date_gets_none_from_its_copyright_footer(tmp_path):
    page = tmp_path / "pass.html"
    page.write_text(
        "<html><head><title>Mountain pass closed</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/news'>News</a></nav><article>"
        "<h1>Mountain pass closed</h1>"
        "<p>Heavy snow closed the mountain pass on the northern road for the whole week.</p>"
        "<p>Crews expect to clear the road once the storm has moved east over the valley.</p>"
        "<p>Drivers were told to take the southern route through the river towns.</p>"
        "</article><footer><p>Copyright 2024 Example News. All rights reserved.</p>"
        "</footer></body></html>"
    )
    with Corpus.create(tmp_path / "t.db") as corpus:
        corpus.ingest([page], workers=0)
        (article,) = corpus.articles()
        assert article.title == "Mountain pass closed" and article.date is None


# -- schema migration --------------------------------------------------------------------


def _as_schema_v1(path: Path) -> None:
    """Rewrite a store into the v1 layout: articles without ``path``, ids without
    AUTOINCREMENT, ``file`` unique."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("BEGIN")
    triggers = [
        r[0]
        for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'articles'"
        )
    ]
    conn.execute(
        "CREATE TABLE old ([id] INTEGER PRIMARY KEY, [file] TEXT NOT NULL, [digest] TEXT NOT "
        "NULL, [title] TEXT NOT NULL, [outlet] TEXT, [byline] TEXT, [date] TEXT, [url] TEXT, "
        "[n_sentences] INTEGER, [dates] TEXT, [text] TEXT NOT NULL)"
    )
    conn.execute("INSERT INTO old SELECT id, file, digest, title, outlet, byline, date, url, "
                 "n_sentences, dates, text FROM articles")  # fmt: skip
    conn.execute("DROP TABLE articles")
    conn.execute("DELETE FROM sqlite_sequence")  # cannot be dropped
    conn.execute("ALTER TABLE old RENAME TO articles")
    conn.execute("CREATE UNIQUE INDEX idx_articles_file ON articles (file)")
    for sql in triggers:
        conn.execute(sql)
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.execute("COMMIT")
    conn.close()


def test_a_schema_v1_database_is_migrated_and_keeps_its_articles(seed_db, tmp_path):
    db = tmp_path / "corpus.db"
    shutil.copy(seed_db, db)
    _as_schema_v1(db)
    with Corpus.open(db, create=False) as corpus:
        before = corpus.articles()
        answer = corpus.ask("Which tourism year was launched in Kazakhstan?")
        # The seed folder ingested again claims its rows: nothing added or replaced.
        report = corpus.ingest([SEEDS], workers=0)
        assert (report.added, report.replaced) == ([], [])
        assert len(report.unchanged) == len(before)
        assert corpus.articles() == before
        assert corpus.ask("Which tourism year was launched in Kazakhstan?") == answer
        assert corpus.find_source(before[0].title).article == before[0]
        # AUTOINCREMENT from now on: the highest id is not given out again.
        highest = before[-1]
        corpus.remove(highest.id)
        corpus.ingest([SEEDS / highest.file], workers=0)
        assert max(a.id for a in corpus.articles()) > highest.id
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("SELECT count(*) FROM articles WHERE path IS NULL").fetchone() == (0,)
    conn.close()


# -- one snapshot per question --------------------------------------------------------------


def _ingest_right_after_totals(monkeypatch, corpus: Corpus, writer: Corpus, path: Path) -> None:
    """Make ``corpus``'s next read of the totals let ``writer`` commit an ingest of
    ``path`` just after it (once): a reader that reads the rest outside that snapshot
    mixes two corpora."""
    original = corpus.store.totals
    ingested = []

    def totals_then_an_ingest_commits():
        totals = original()
        if not ingested:
            ingested.append(writer.ingest([path], workers=0))
        return totals

    monkeypatch.setattr(corpus.store, "totals", totals_then_an_ingest_commits)


def test_rank_reads_totals_and_postings_from_one_snapshot(corpus_path, tmp_path, monkeypatch):
    """An ingest committed by another connection between rank()'s reads of the totals
    and of the postings must not mix the old N with the new document frequencies."""
    more = tmp_path / "more.jsonl"
    more.write_text(
        "\n".join(
            json.dumps({"id": i, "text": f"Kazakhstan tourism year number {i} was busy."})
            for i in range(300)
        )
    )
    terms = tokenize("Kazakhstan tourism year")
    with (
        Corpus.open(corpus_path, create=False) as corpus,
        Corpus.open(corpus_path, create=False) as writer,
    ):
        expected = rank(corpus.store, terms, 10)
        _ingest_right_after_totals(monkeypatch, corpus, writer, more)
        during = rank(corpus.store, terms, 10)
        monkeypatch.undo()
        assert writer.stats().sentences == corpus.stats().sentences > 300
        np.testing.assert_array_equal(during.ids, expected.ids)
        np.testing.assert_array_equal(during.scores, expected.scores)
        assert during.idf == expected.idf
        # The next question sees the new articles.
        assert rank(corpus.store, terms, 10).idf != expected.idf


def test_stats_and_names_read_one_snapshot(corpus_path, tmp_path, monkeypatch):
    """The same class of bug outside rank(): stats() read the totals and the article count
    in separate statements, so an ingest committed in between mixed two corpora."""
    folder = _files(tmp_path / "more", {"snow.txt": SNOW, "lake.txt": LAKE})
    with (
        Corpus.open(corpus_path, create=False) as corpus,
        Corpus.open(corpus_path, create=False) as writer,
    ):
        before = corpus.stats()
        _ingest_right_after_totals(monkeypatch, corpus, writer, folder)
        during = corpus.stats()
        monkeypatch.undo()
        assert (during.articles, during.sentences, during.terms) == (
            before.articles,
            before.sentences,
            before.terms,
        )
        assert corpus.stats().articles == before.articles + 2


def test_a_read_only_schema_v1_database_is_read_as_it_is(seed_db, tmp_path):
    from .test_hardening_cli import run_as

    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "corpus.db"
    shutil.copy(seed_db, db)
    _as_schema_v1(db)
    before = db.read_bytes()
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        done = run_as(["ask", "Which tourism year was launched in Kazakhstan?"], db)
        source = run_as(["source", "002_4aa99eda7d0eb28f.txt"], db)
    finally:
        folder.chmod(0o755)
    assert done.returncode == 0 and "China Tourism Year" in done.stdout, done.stderr
    assert source.returncode == 0 and "Alwihda Info" in source.stdout, source.stderr
    assert db.read_bytes() == before  # not migrated, not touched
