"""Bring your own corpus: formats, broken files, incremental updates, interrupted ingests,
live visibility, and the scores after all that against a fresh rank-bm25."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from bot import cli
from retrieval import ingest as ingesting
from retrieval.backend import ArticleQuery
from retrieval.corpus import Corpus
from retrieval.rank import rank
from retrieval.store import ID_DTYPE, LEN_DTYPE, TF_DTYPE
from retrieval.text import tokenize

from .conftest import ROOT

pytestmark = pytest.mark.unit

HTML = """<!doctype html>
<html><head>
<title>Harbour bridge approved | Harbour Post</title>
<meta name="author" content="Jane Roe">
<meta property="og:site_name" content="Harbour Post">
<meta property="article:published_time" content="2021-03-04">
</head><body>
<nav><a href="/">Home</a> | <a href="/world">World</a> | <a href="/sport">Sport</a></nav>
<article>
<h1>Harbour bridge approved</h1>
<p>The city council approved the new harbour bridge on Tuesday after a debate that lasted
eleven hours and ended close to midnight.</p>
<p>Construction of the suspension bridge will start in May and is expected to cost twelve
million euros, paid for by the regional government and the port authority.</p>
<p>Residents of the old town said the bridge would finally end the long ferry queues.</p>
</article>
<footer>Subscribe to our newsletter for daily cookie offers. Copyright 2021 Harbour Post.</footer>
</body></html>
"""

TXT = """Glacier lab opens
By Ann Example | Mountain Gazette | 2020-05-06

Researchers opened a glacier laboratory at three thousand metres above the valley.
The laboratory measures how fast the ice melts during the summer months.
"""

MD = """# Orchard harvest record

Farmers in the northern valley picked a record apple harvest this autumn.
Cider makers bought most of the crop within a week.
"""


def jsonl(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


FEED = [
    {"id": "k1", "title": "Kite festival", "date": "2019-08-01", "outlet": "Coast Wire",
     "url": "https://example.org/k1",
     "text": "A kite festival filled the beach with colour.\n\nOrganisers counted 900 kites."},
    {"id": "k2", "text": "The lighthouse keeper retired after forty years of service."},
    {"text": "Fishermen reported an unusual catch of silver tuna near the reef."},
]  # fmt: skip


def write_mixed(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "glacier.txt").write_text(TXT, encoding="utf-8")
    (folder / "orchard.md").write_text(MD, encoding="utf-8")
    (folder / "bridge.html").write_text(HTML, encoding="utf-8")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "feed.jsonl").write_text(
        jsonl(FEED[0], "{not json", FEED[1], ["a list"], {"title": "no text"}, FEED[2]),
        encoding="utf-8",
    )
    (folder / "empty.txt").write_text("  \n\n", encoding="utf-8")
    (folder / "binary.txt").write_bytes(b"\x89PNG\x00\x00\x01binary")
    (folder / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me in the harbour.".encode("latin-1"))
    (folder / "empty.html").write_text("<html><body></body></html>", encoding="utf-8")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4 ignored: not a supported suffix")


def test_mixed_folder_good_files_go_in_broken_ones_are_reported(tmp_path):
    folder = tmp_path / "in"
    write_mixed(folder)
    with Corpus.create(tmp_path / "c.db") as corpus:
        report = corpus.ingest([folder])
        assert sorted(report.added) == [
            "bridge.html", "glacier.txt", "orchard.md",
            "sub/feed.jsonl#L6", "sub/feed.jsonl#k1", "sub/feed.jsonl#k2",
        ]  # fmt: skip
        failed = dict(report.failed)
        assert failed[str(folder / "empty.txt")] == "empty file"
        assert failed[str(folder / "binary.txt")] == "binary file (NUL bytes)"
        assert failed[str(folder / "latin1.txt")].startswith("not UTF-8 text")
        assert "no article text" in failed[str(folder / "empty.html")]
        feed = folder / "sub" / "feed.jsonl"
        assert failed[f"{feed}:2"].startswith("not valid JSON")
        assert failed[f"{feed}:4"] == "not a JSON object"
        assert failed[f"{feed}:5"] == 'missing or empty "text"'
        assert len(report.failed) == 7  # the .pdf is not ours to read: not reported

        for question, where in [
            ("glacier laboratory ice melts", "glacier.txt"),
            ("record apple harvest", "orchard.md"),
            ("harbour bridge construction cost", "bridge.html"),
            ("how many kites at the festival", "sub/feed.jsonl#k1"),
            ("silver tuna reef", "sub/feed.jsonl#L6"),
        ]:
            answer = corpus.ask(question)
            assert answer.answered, question
            assert answer.hits[0].article.file == where

        md = corpus.find_source("orchard.md").article
        assert md.title == "Orchard harvest record"
        kite = corpus.find_source("sub/feed.jsonl#k1").article
        assert (kite.title, kite.outlet, kite.date, kite.url) == (
            "Kite festival", "Coast Wire", "2019-08-01", "https://example.org/k1",
        )  # fmt: skip
        assert corpus.find_source("sub/feed.jsonl#k2").article.title.startswith("The lighthouse")


def test_html_goes_through_the_article_extractor(tmp_path):
    page = tmp_path / "bridge.html"
    page.write_text(HTML, encoding="utf-8")
    with Corpus.create(tmp_path / "c.db") as corpus:
        corpus.ingest([page])
        article = corpus.articles()[0]
        assert article.title == "Harbour bridge approved"
        assert article.byline == "Jane Roe"
        assert article.outlet == "Harbour Post"
        assert article.date == "2021-03-04"
        text = corpus.article_text(article.id)
        sentences = [s.text for s in corpus.store.article_sentences(article.id)]
    # Boilerplate is gone; the headline is metadata, not a searchable sentence.
    for junk in ("Home", "Sport", "newsletter", "cookie", "Copyright"):
        assert junk not in text
    assert sentences[0].startswith("The city council approved the new harbour bridge")
    assert "Harbour bridge approved" not in sentences
    assert len(sentences) == 3


def test_jsonl_lines_are_articles_updated_line_by_line(tmp_path):
    feed = tmp_path / "feed.jsonl"
    feed.write_text(jsonl(*FEED), encoding="utf-8")
    with Corpus.create(tmp_path / "c.db") as corpus:
        assert len(corpus.ingest([feed]).added) == 3
        again = corpus.ingest([feed])
        assert again.added == again.replaced == [] and len(again.unchanged) == 3

        changed = dict(FEED[1], text="The lighthouse keeper retired after fifty years at sea.")
        duplicate = dict(FEED[0], text="Another kite text with the same id.")
        feed.write_text(jsonl(FEED[0], changed, duplicate), encoding="utf-8")
        report = corpus.ingest([feed])
        assert report.replaced == ["feed.jsonl#k2"]
        assert report.unchanged == ["feed.jsonl#k1"]
        assert report.failed == [(f"{feed}:3", "duplicate id 'k1' (line 1)")]
        # The file had a problem, so the vanished line 3 (silver tuna) is kept, not guessed away.
        assert report.removed == []
        assert corpus.ask("silver tuna reef").answered

        feed.write_text(jsonl(FEED[0], changed), encoding="utf-8")
        report = corpus.ingest([feed])
        assert report.removed == ["feed.jsonl#L3"]
        assert not corpus.ask("silver tuna reef").answered
        assert "fifty years" in corpus.ask("lighthouse keeper retired").hits[0].sentence.text
        check_index(corpus)


# -- replace and remove: the index equals a fresh rank-bm25 over what remains -----------


def stories(n: int) -> dict[str, str]:
    """Small articles sharing vocabulary, so postings of common terms span many of them."""
    rng = np.random.default_rng(7)
    words = ["harbour", "bridge", "council", "ferry", "budget", "school", "river", "storm",
             "market", "museum", "festival", "mayor", "station", "library", "park"]  # fmt: skip
    out = {}
    for i in range(n):
        lines = []
        for _ in range(int(rng.integers(2, 6))):
            picked = rng.choice(words, size=int(rng.integers(4, 10)))
            lines.append("The " + " and the ".join(picked) + f" story {i}.")
        out[f"story{i:02d}.txt"] = f"Story {i}\n\n" + " ".join(lines) + "\n"
    return out


def names_index(conn: sqlite3.Connection, table: str) -> list[tuple]:
    """Every (term, article id, field, position) the FTS5 table ``table`` holds: what is
    in the index itself (an external-content table's rows are read from ``articles``)."""
    schema, name = table.split(".")
    conn.execute(
        f"CREATE VIRTUAL TABLE temp.{name}_vocab USING fts5vocab({schema}, {name}, instance)"
    )
    try:
        return conn.execute(f"SELECT * FROM temp.{name}_vocab ORDER BY 1, 2, 3, 4").fetchall()
    finally:
        conn.execute(f"DROP TABLE temp.{name}_vocab")


def fresh_names_index(conn: sqlite3.Connection) -> str:
    """The name index built afresh from the stored articles, in a temporary table."""
    conn.execute("DROP TABLE IF EXISTS temp.fresh_names")
    conn.execute(
        "CREATE VIRTUAL TABLE temp.fresh_names USING fts5("
        "title, outlet, byline, dates, file, tokenize='porter')"
    )
    conn.execute(
        "INSERT INTO temp.fresh_names (rowid, title, outlet, byline, dates, file) "
        "SELECT id, title, outlet, byline, dates, file FROM articles"
    )
    return "temp.fresh_names"


def check_index(corpus: Corpus) -> None:
    """Postings, totals and rank() agree with a rank-bm25 built from the stored sentences."""
    conn = corpus.store.conn
    rows = conn.execute("SELECT id, text, length FROM sentences ORDER BY id").fetchall()
    ids = [r[0] for r in rows]
    docs = [tokenize(r[1]) for r in rows]
    assert [len(d) for d in docs] == [r[2] for r in rows]
    expected: dict[str, list[int]] = {}
    for sid, doc in zip(ids, docs, strict=True):
        for term in dict.fromkeys(doc):
            expected.setdefault(term, []).append(sid)
    stored = {}
    for term, df, blob_ids, blob_tfs, blob_lens in conn.execute(
        "SELECT term, df, ids, tfs, lens FROM terms"
    ):
        got = np.frombuffer(blob_ids, ID_DTYPE)
        assert df == len(got) == len(np.frombuffer(blob_tfs, TF_DTYPE))
        assert len(np.frombuffer(blob_lens, LEN_DTYPE)) == df
        stored[term] = got.tolist()
    assert stored == expected  # no postings of deleted sentences, none missing
    assert names_index(conn, "main.articles_fts") == names_index(conn, fresh_names_index(conn))
    totals = corpus.store.totals()
    assert totals.sentences == len(rows)
    assert totals.tokens == sum(map(len, docs))
    assert totals.terms == len(expected)

    oracle = BM25Okapi(docs)
    for query in (["harbour"], ["bridg", "ferri", "ferri"], ["museum", "mayor", "storm"],
                  ["librari", "park", "kite"], ["stori", "3"]):  # fmt: skip
        scores = oracle.get_scores(query)
        got = rank(corpus.store, query, need=len(ids))
        matched = [i for i, d in enumerate(docs) if set(d) & set(query)]
        assert sorted(got.ids.tolist()) == [ids[i] for i in matched]
        position = {sid: i for i, sid in enumerate(ids)}
        for sid, score in zip(got.ids.tolist(), got.scores.tolist(), strict=True):
            assert score == pytest.approx(scores[position[sid]], rel=1e-9, abs=1e-12)
        top = rank(corpus.store, query, need=5)
        want = sorted(matched, key=lambda i: (-scores[i], ids[i]))[:5]
        assert np.allclose(top.scores, [scores[i] for i in want], rtol=1e-9)


def test_replace_and_remove_leave_exactly_a_fresh_index(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in stories(12).items():
        (folder / name).write_text(text, encoding="utf-8")
    with Corpus.create(tmp_path / "c.db") as corpus:
        assert len(corpus.ingest([folder]).added) == 12
        check_index(corpus)

        (folder / "story03.txt").write_text(
            "Story 3 again\n\nThe kite flew over the harbour and the park.\n", encoding="utf-8"
        )
        report = corpus.ingest([folder])
        assert report.replaced == ["story03.txt"] and len(report.unchanged) == 11
        check_index(corpus)

        article = corpus.find_source("story07.txt").article
        corpus.remove(article.id)
        assert corpus.find_source("story07.txt").article is None
        check_index(corpus)

        # Re-adding the removed file works and gets fresh sentence ids.
        before = corpus.store.totals().max_sentence_id
        assert corpus.ingest([folder]).added == ["story07.txt"]
        assert min(s.id for s in corpus.store.article_sentences(
            corpus.find_source("story07.txt").article.id)) > before  # fmt: skip
        check_index(corpus)


def stories_and_feed(folder: Path) -> Path:
    """``folder`` with 20 story files and a JSONL feed of 30 more."""
    folder.mkdir()
    for name, text in stories(20).items():
        (folder / name).write_text(text, encoding="utf-8")
    records = [{"id": f"n{i}", "text": t} for i, t in enumerate(stories(30).values())]
    (folder / "big.jsonl").write_text(jsonl(*records), encoding="utf-8")
    return folder


def test_parallel_ingest_writes_the_same_store_as_one_process(tmp_path):
    folder = stories_and_feed(tmp_path / "in")
    # Split the JSONL between workers, and flush postings often.
    sizes = ingesting.IngestSizes(part_bytes=500, flush_postings=100)

    def dump(path: Path) -> list:
        with sqlite3.connect(path) as conn:
            return [
                conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("sentences", "terms", "meta")
            ] + [conn.execute("SELECT file, digest, title, text FROM articles").fetchall()]

    results = []
    for workers in (0, 2):
        with Corpus.create(tmp_path / f"w{workers}.db") as corpus:
            report = ingesting.ingest(corpus.store, [folder], workers=workers, sizes=sizes)
            assert len(report.added) == 50 and not report.failed
            check_index(corpus)
        results.append(dump(tmp_path / f"w{workers}.db"))
    assert results[0] == results[1]


def test_the_name_index_trigger_outlives_an_ingest_and_a_failed_one(tmp_path, monkeypatch):
    """Ingest indexes new articles' names in one statement with the insert trigger
    dropped (Store.names_indexed_at_end): the trigger is back afterwards, and an ingest
    that fails keeps it and the names as they were."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in stories(3).items():
        (folder / name).write_text(text, encoding="utf-8")

    def trigger(corpus: Corpus) -> list:
        return corpus.store.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'articles_ai'"
        ).fetchall()

    with Corpus.create(tmp_path / "c.db") as corpus:
        before = trigger(corpus)
        assert len(before) == 1
        corpus.ingest([folder])
        assert trigger(corpus) == before
        names = names_index(corpus.store.conn, "main.articles_fts")
        assert names

        def fail(*args: object, **kwargs: object) -> None:
            raise RuntimeError("disk full")

        (folder / "story09.txt").write_text("Story nine\n\nA comet was seen.\n", encoding="utf-8")
        monkeypatch.setattr(ingesting, "refresh_totals", fail)  # after every insert
        with pytest.raises(RuntimeError):
            corpus.ingest([folder])
        assert trigger(corpus) == before
        assert names_index(corpus.store.conn, "main.articles_fts") == names
        # Articles inserted outside an ingest are indexed by the trigger, as always.
        corpus.store.conn.execute(
            "INSERT INTO articles (path, file, digest, title, text) "
            "VALUES ('/x', 'x.txt', 'd', 'Zeppelin report', 'text')"
        )
        assert [
            a.file for a, _ in corpus.store.search_articles(ArticleQuery(("zeppelin",)), 5)
        ] == ["x.txt"]
        check_index(corpus)


def test_a_first_ingest_through_the_rollback_journal_writes_the_wal_store(tmp_path):
    """An empty store is filled through a rollback journal and without foreign-key checks
    (Store.rollback_journal_while_empty), unless another connection has it open: the
    store is the same either way, in WAL mode and checking foreign keys again afterwards,
    and every sentence's article is there."""
    folder = stories_and_feed(tmp_path / "in")

    def dump(path: Path) -> list:
        with sqlite3.connect(path) as conn:
            return [
                conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("articles", "sentences", "terms", "meta", "articles_fts")
            ]

    results, modes = [], []
    for other_reader in (False, True):
        path = tmp_path / f"r{other_reader}.db"
        with Corpus.create(path) as corpus:
            reader = sqlite3.connect(path) if other_reader else None
            if reader:
                reader.execute("SELECT count(*) FROM meta").fetchone()
            during: list[str] = []

            def progress(
                _: ingesting.IngestProgress, corpus: Corpus = corpus, during: list = during
            ) -> None:
                conn = corpus.store.conn
                during.append(
                    (
                        conn.execute("PRAGMA journal_mode").fetchone()[0],
                        conn.execute("PRAGMA foreign_keys").fetchone()[0],
                    )
                )

            def after(corpus: Corpus = corpus) -> tuple:
                conn = corpus.store.conn
                assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
                return (
                    conn.execute("PRAGMA journal_mode").fetchone()[0],
                    conn.execute("PRAGMA foreign_keys").fetchone()[0],
                )

            assert len(corpus.ingest([folder], progress=progress).added) == 50
            check_index(corpus)
            modes.append((set(during), after()))
            # Not empty any more: the next ingest keeps WAL mode and the checks, readers
            # or not.
            (folder / "late.txt").write_text("Late story\n\nA comet was seen.\n")
            during.clear()
            corpus.ingest([folder], progress=progress)
            assert set(during) == {("wal", 1)}
            assert after() == ("wal", 1)
            (folder / "late.txt").unlink()
            if reader:
                reader.close()
        results.append(dump(path))
    assert modes == [({("delete", 0)}, ("wal", 1)), ({("wal", 1)}, ("wal", 1))]
    assert results[0] == results[1]


# -- interrupted ingest ------------------------------------------------------------------

KILLED_INGEST = textwrap.dedent(
    """
    import sys, time
    from retrieval.corpus import Corpus

    def progress(p):
        if p.files == 2:  # well inside the transaction: rows written, nothing committed
            print("writing", flush=True)
            time.sleep(120)

    corpus = Corpus.open(sys.argv[1], create=False)
    if len(sys.argv) > 3:  # a page cache this small spills: the file itself is written
        corpus.store.conn.execute(f"PRAGMA cache_size={int(sys.argv[3])}")
    corpus.ingest([sys.argv[2]], progress=progress, workers=0)
    print("finished", flush=True)
    """
)


def kill_9_while_writing(path: Path, folder: Path, *cache_pages: str) -> None:
    """Run KILLED_INGEST and kill -9 it inside its ingest's transaction."""
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_INGEST, str(path), str(folder), *cache_pages],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_kill_9_during_ingest_leaves_the_previous_corpus_intact(corpus_path, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in stories(8).items():
        (folder / name).write_text(text, encoding="utf-8")
    question = "Which tourism year was launched in Kazakhstan in 2017?"
    with Corpus.open(corpus_path, create=False) as corpus:
        before = (corpus.stats(), corpus.store.totals(), corpus.ask(question))

    kill_9_while_writing(corpus_path, folder)

    with sqlite3.connect(corpus_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Corpus.open(corpus_path, create=False) as corpus:
        stats = corpus.stats()
        assert (stats.articles, stats.sentences, stats.terms) == (
            before[0].articles, before[0].sentences, before[0].terms,
        )  # fmt: skip
        assert corpus.store.totals() == before[1]
        assert corpus.ask(question) == before[2]
        # And the interrupted ingest can simply be run again.
        assert len(corpus.ingest([folder]).added) == 8


def test_kill_9_during_a_first_ingest_leaves_the_empty_store(tmp_path):
    """Filling an empty store goes through a rollback journal: killed with pages of the
    file already overwritten, the store rolls back to empty, intact, in WAL mode."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in stories(8).items():
        (folder / name).write_text(text * 20, encoding="utf-8")
    path = tmp_path / "new.db"
    Corpus.create(path).close()
    empty = path.read_bytes()

    kill_9_while_writing(path, folder, "2")
    assert Path(f"{path}-journal").exists() and path.read_bytes() != empty

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with Corpus.open(path, create=False) as corpus:
        assert corpus.store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stats = corpus.stats()
        assert (stats.articles, stats.sentences, stats.terms) == (0, 0, 0)
        assert len(corpus.ingest([folder]).added) == 8
        check_index(corpus)


# -- a running bot sees new articles -----------------------------------------------------


def test_a_second_open_corpus_sees_new_articles_without_reopening(corpus_path, tmp_path):
    feed = tmp_path / "late.jsonl"
    feed.write_text(jsonl({"id": "z", "text": "Zebras escaped from the city zoo at dawn."}))
    with Corpus.open(corpus_path, create=False) as bot, Corpus.open(corpus_path) as tool:
        assert not bot.ask("zebras escaped zoo").answered
        n = bot.stats().sentences
        tool.ingest([feed])
        answer = bot.ask("zebras escaped zoo")
        assert answer.answered
        assert answer.hits[0].article.file == "late.jsonl#z"
        assert bot.stats().sentences == n + 1
        tool.remove(answer.hits[0].article.id)
        assert not bot.ask("zebras escaped zoo").answered


# -- the command line --------------------------------------------------------------------


def test_cli_ingest_quiet_and_remove_by_name(corpus_path, tmp_path, capsys):
    feed = tmp_path / "late.jsonl"
    feed.write_text(jsonl({"id": "z", "title": "Zoo escape", "text": "Zebras escaped at dawn."}))
    assert cli.main(["--db", str(corpus_path), "ingest", "--quiet", str(feed)]) == 0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert cli.main(["--db", str(corpus_path), "remove", "Zoo escape"]) == 0
    assert "removed" in capsys.readouterr().out
    assert cli.main(["--db", str(corpus_path), "remove", "no such article anywhere"]) == 1
    with Corpus.open(corpus_path, create=False) as corpus:
        assert not corpus.ask("zebras escaped").answered


def test_jsonl_lone_surrogates_are_stored_as_replacement(tmp_path):
    folder = tmp_path / "feed"
    folder.mkdir()
    # json.dumps escapes a lone surrogate as \ud800, which json.loads gives back as one.
    (folder / "feed.jsonl").write_text(
        json.dumps({"text": "A lone \ud800 surrogate sits in this sentence.", "title": "T\udfff"})
        + "\n"
        # BM25Okapi gives a term in half the sentences or more no weight: add others.
        + json.dumps({"text": "Other news. More other news. Still more news."})
        + "\n"
    )
    with Corpus.create(tmp_path / "c.db") as corpus:
        report = corpus.ingest([folder])
        assert report.failed == [] and len(report.added) == 2
        hit = corpus.ask("lone surrogate sentence").hits[0]
        assert hit.sentence.text == "A lone ? surrogate sits in this sentence."
        assert hit.article.title == "T?"


def test_cli_ingest_into_a_new_database_starts_empty(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "one.txt").write_text("My headline\n\nOnly my own article is in this corpus.\n")
    db = tmp_path / "mine.db"
    assert cli.main(["--db", str(db), "ingest", "--quiet", str(folder)]) == 0
    assert cli.main(["--db", str(db), "articles", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["file"] for a in listed] == ["one.txt"]


def test_postings_sorted_ahead_flush_the_same_and_take_no_more(tmp_path):
    """PostingsBuilder.sort_pending (run in a thread at the end of an ingest) gives the
    flush the same rows, and refuses postings that would arrive after it."""
    from retrieval.postings import Chunk, PostingsBuilder
    from retrieval.store import Store

    def chunk(owner: str, first_new: int, new_terms: list[str]) -> Chunk:
        return Chunk(
            owner=owner, first_new=first_new, new_terms=new_terms,
            post_terms=np.array([0, 1, 1, 0], np.int32),
            post_sents=np.array([0, 0, 1, 2], np.int32),
            post_tfs=np.array([1, 2, 1, 3], TF_DTYPE),
            lengths=np.array([3, 1, 4], LEN_DTYPE),
        )  # fmt: skip

    rows = []
    for ahead in (False, True):
        store = Store.create(tmp_path / f"{ahead}.db")
        builder = PostingsBuilder()
        builder.add_chunk(1, chunk("a", 0, ["kite", "harbour"]))
        builder.add_chunk(4, chunk("b", 0, ["ferry", "kite"]))
        if ahead:
            builder.sort_pending()
            with pytest.raises(ValueError):
                builder.add_chunk(7, chunk("c", 0, ["x", "y"]))
        with store.write():
            builder.merge_into(store, 6)
        rows.append(store.conn.execute("SELECT * FROM terms ORDER BY id").fetchall())
        store.close()
    assert rows[0] == rows[1] and len(rows[0]) == 3


def test_articles_read_by_an_earlier_reading_are_read_again(tmp_path, monkeypatch):
    # A store built before a change to how articles are read (docs/decisions/
    # 025-sentencex-misreadings.md) has its articles read again at the next ingest of
    # the same files; after that they are unchanged.
    from retrieval import articles, segment

    paper = tmp_path / "paper.txt"
    paper.write_text(
        "Phage study\n\nPhage were found (Meynell and Lawn, 1968; Khatoon et al., 1972) , and"
        " the list grew to 60 members (Fauquet et al., 2005) , including temperate species."
        " Work by many groups followed (Marvin, 1998) . It was long.\n",
        encoding="utf-8",
    )
    db = tmp_path / "c.db"
    with monkeypatch.context() as earlier:
        earlier.setattr(articles, "READING", b"1")
        earlier.setattr(segment, "_pieces", lambda block: segment._sentencex("en", block))
        with Corpus.create(db) as corpus:
            assert corpus.ingest([paper]).added == ["paper.txt"]
            (article,) = corpus.store.articles()
            before = [s.text for s in corpus.store.article_sentences(article.id)]
    assert before[0].endswith("Khatoon et al.,")  # as sentencex alone cut it

    with Corpus.open(db) as corpus:
        report = corpus.ingest([paper])
        assert report.replaced == ["paper.txt"]
        (article,) = corpus.store.articles()
        after = [s.text for s in corpus.store.article_sentences(article.id)]
        assert after == [
            "Phage were found (Meynell and Lawn, 1968; Khatoon et al., 1972) , and the list"
            " grew to 60 members (Fauquet et al., 2005) , including temperate species.",
            "Work by many groups followed (Marvin, 1998) .",
            "It was long.",
        ]
        assert corpus.ingest([paper]).unchanged == ["paper.txt"]
        check_index(corpus)


def test_a_word_broken_at_a_line_end_is_found_whole_and_quoted_as_written(tmp_path):
    # Text taken from a PDF (docs/decisions/026-words-hyphenated-at-a-line-break.md).
    paper = tmp_path / "waves.txt"
    paper.write_text(
        "The 1918 waves\n\nDeaths were counted in every city. The fre-\nquency of fatal"
        " cases rose in the autumn.\n",
        encoding="utf-8",
    )
    with Corpus.create(tmp_path / "c.db", reranker="none") as corpus:
        corpus.ingest([paper])
        answer = corpus.ask("how high was the frequency", k=1)
        check_index(corpus)
    (hit,) = answer.hits
    assert hit.sentence.text == "The fre-\nquency of fatal cases rose in the autumn."
