"""The Xapian backend on real xapian-tcpsrv shards (127.0.0.1, free ports): the same
exact answers as the SQLite store, articles whole on one shard, and the faults."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from retrieval.corpus import Corpus
from retrieval.errors import StoreError
from retrieval.rank import rank
from retrieval.settings import Settings, parse_shards
from retrieval.text import tokenize

from .conftest import DATA, SEEDS
from .shards import require_xapian, running_shards, shards_setting
from .test_cli import run

pytestmark = pytest.mark.oracle

SCIFACT = DATA / "scifact-sample" / "corpus.jsonl"


@pytest.fixture(scope="module", autouse=True)
def _xapian_available() -> None:
    require_xapian()


def open_shards(servers, **kw) -> Corpus:
    from retrieval.xapian_backend import XapianStore

    return Corpus(XapianStore([s.shard for s in servers], **kw))


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory):
    """The seeds and the SciFact sample in SQLite and in 2 shards: (sqlite, xapian, servers)."""
    root = tmp_path_factory.mktemp("xapian")
    sqlite = Corpus.create(root / "corpus.db")
    sqlite.ingest([SEEDS, SCIFACT], workers=0)
    with running_shards(root, 2) as servers:
        xapian = open_shards(servers)
        xapian.ingest([SEEDS, SCIFACT])
        yield sqlite, xapian, servers
        xapian.close()
    sqlite.close()


def questions() -> list[str]:
    dev = [json.loads(line)["question"] for line in (DATA / "dev.jsonl").open()]
    scifact = [json.loads(line)["text"] for line in (DATA / "scifact-sample/queries.jsonl").open()]
    return dev + scifact[:20] + ["the of and", "expo expo astana", "cell cell cell protein"]


def test_ingest_puts_each_article_whole_on_its_hashed_shard(both):
    from retrieval.xapian_backend import shard_of

    sqlite, xapian, _servers = both
    assert xapian.stats().articles == sqlite.stats().articles == 736
    assert xapian.stats().sentences == sqlite.stats().sentences
    assert xapian.stats().terms == sqlite.stats().terms
    assert xapian.stats().avg_sentence_length == sqlite.stats().avg_sentence_length
    store = xapian.store
    keys = dict(sqlite.store.conn.execute("SELECT id, path FROM articles"))
    placed = {0: 0, 1: 0}
    for article, (shard, _) in zip(
        sqlite.articles(), [store._articles_where([f"A{a.id}"])[0] for a in sqlite.articles()],
        strict=True,
    ):  # fmt: skip
        assert shard == shard_of(keys[article.id], 2)  # the article's key, as in SQLite
        placed[shard] += 1
        # Its sentences are on the same shard: combined docid ≡ shard (mod 2).
        ids = [s.id for s in sqlite.store.article_sentences(article.id)]
        docids = {m.docid for m in _sentence_matches(store, ids)}
        assert {(d - 1) % 2 for d in docids} == {shard}
    assert placed[0] > 100 and placed[1] > 100


def _sentence_matches(store, ids):
    from retrieval.xapian_backend import _by_terms

    return list(store._call(lambda conn: _by_terms(conn.db, [f"Q{i}" for i in ids])))


def test_rank_and_answers_are_the_sqlite_engines_exactly(both):
    sqlite, xapian, _ = both
    for question in questions():
        terms = tokenize(question)
        for need in (1, 10, 100):
            a, b = rank(sqlite.store, terms, need), rank(xapian.store, terms, need)
            assert b.ids.tolist() == a.ids.tolist(), question
            assert np.allclose(b.scores, a.scores, rtol=1e-9, atol=0), question
            assert b.idf == pytest.approx(a.idf, rel=1e-9)
            assert b.sentences == a.sentences and b.avgdl == a.avgdl
        others = list(range(1, 60))
        assert np.allclose(b.score(others), a.score(others), rtol=1e-9, atol=0)
        for k, offset in ((3, 0), (5, 3)):
            x, y = (
                sqlite.ask(question, k=k, offset=offset),
                xapian.ask(question, k=k, offset=offset),
            )
            assert (y.status, y.message, y.has_more) == (x.status, x.message, x.has_more)
            assert [(h.rank, h.sentence, h.article) for h in y.hits] == [
                (h.rank, h.sentence, h.article) for h in x.hits
            ], question
            assert [h.score for h in y.hits] == pytest.approx([h.score for h in x.hits], rel=1e-9)


def test_source_context_and_articles_across_shards(both):
    sqlite, xapian, _ = both
    assert xapian.articles() == sqlite.articles()
    names = ["3", "002_4aa99eda7d0eb28f", "002_4aa99eda7d0eb28f.txt", "corpus.jsonl#L7",
             "Zhejiang seeks cooperation at Astana Expo", "expo", "kazakhstan tourism",
             "white matter diffusion", "no such thing at all", "June 2017"]  # fmt: skip
    for name in names:
        x, y = sqlite.find_source(name), xapian.find_source(name)
        assert (y.article, len(y.candidates) > 0) == (x.article, len(x.candidates) > 0), name
    for article in sqlite.articles()[::50]:
        assert xapian.article_text(article.id) == sqlite.article_text(article.id)
        assert xapian.store.article(article.id) == article
    for sid in (1, 2, 40, 85, 86, 300):
        assert xapian.context(sid, before=2, after=3) == sqlite.context(sid, before=2, after=3)
    assert [a.id for a in xapian.suggest("")] == [a.id for a in sqlite.suggest("")]
    assert xapian.store.article(10**6) is None and xapian.context(10**9) == []


def test_cli_commands_use_the_shards(both):
    _, _, servers = both
    env = {"CORPUSBOT_BACKEND": "xapian", "CORPUSBOT_SHARDS": shards_setting(servers)}
    out = run("ask", "Which tourism year was launched in Kazakhstan in 2017?", env=env)
    assert out.returncode == 0, out.stderr
    assert "China Tourism Year" in out.stdout
    out = run("--backend", "xapian", "--shards", shards_setting(servers), "source", "3")
    assert out.returncode == 0, out.stderr
    assert "President Xi" in out.stdout
    out = run("stats", "--json", env=env)
    assert json.loads(out.stdout)["articles"] == 736
    assert json.loads(out.stdout)["db_bytes"] is None  # on the shard servers, not 0 MB
    out = run("stats", env=env)
    assert out.returncode == 0 and "(size: on the shard servers)" in out.stdout


def random_corpus():
    words = st.sampled_from(["expo", "astana", "china", "energy", "tourism", "silk", "road",
                             "year", "city", "trade", "visit", "the"])  # fmt: skip
    sentence = st.lists(words, min_size=1, max_size=9).map(lambda ws: " ".join(ws) + ".")
    article = st.lists(sentence, min_size=1, max_size=4)
    return st.lists(article, min_size=1, max_size=8)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    random_corpus(),
    st.lists(
        st.sampled_from(["expo", "astana", "china", "energy", "silk", "city", "zzz"]),
        min_size=1,
        max_size=5,
    ),
    st.integers(1, 12),
)
def test_property_same_as_rank_bm25_and_sqlite(tmp_path_factory, articles, query, need):
    root = tmp_path_factory.mktemp("prop")
    folder = root / "in"
    folder.mkdir()
    for i, sentences in enumerate(articles):
        (folder / f"a{i:02}.txt").write_text("Title\n\n" + " ".join(sentences) + "\n")
    sqlite = Corpus.create(root / "c.db")
    sqlite.ingest([folder], workers=0)
    with running_shards(root, 2) as servers:
        xapian = open_shards(servers)
        xapian.ingest([folder])
        terms = tokenize(" ".join(query))
        a, b = rank(sqlite.store, terms, need), rank(xapian.store, terms, need)
        everything = rank(xapian.store, terms, 10**6)
        texts = {s.id: s.text for s in xapian.store.sentences(list(range(1, 200)))}
        xapian.close()
    sqlite.close()
    assert b.ids.tolist() == a.ids.tolist()
    assert np.allclose(b.scores, a.scores, rtol=1e-9, atol=1e-12)
    ids = sorted(texts)
    if not any(tokenize(t) for t in texts.values()):
        return  # only stopwords: rank-bm25 divides by the average length, 0
    oracle = BM25Okapi([tokenize(texts[i]) for i in ids]).get_scores(terms)
    got = dict(zip(everything.ids.tolist(), everything.scores.tolist(), strict=True))
    for i, expected in zip(ids, oracle, strict=True):
        assert got.get(i, 0.0) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_remove_and_replace_on_shards(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    things = ["harbour crane", "river ferry", "mountain railway", "airport tower", "city tram",
              "desert road"]  # fmt: skip
    for i, thing in enumerate(things):
        (folder / f"n{i}.txt").write_text(f"Story {i}\n\nThe {thing} broke down on Monday.\n")
    with running_shards(tmp_path, 2) as servers:
        corpus = open_shards(servers)
        assert len(corpus.ingest([folder]).added) == 6
        assert len(corpus.ingest([folder]).unchanged) == 6
        (folder / "n2.txt").write_text("Story 2\n\nThe mountain railway was repaired today.\n")
        report = corpus.ingest([folder])
        assert report.replaced == ["n2.txt"] and len(report.unchanged) == 5
        found = corpus.find_source("n2")
        assert "repaired" in corpus.article_text(found.article.id)
        victim = corpus.find_source("n4.txt").article
        corpus.remove(victim.id)
        assert corpus.store.article(victim.id) is None
        assert corpus.stats().articles == 5 and corpus.stats().sentences == 5
        assert not corpus.ask("Which city tram broke down?").answered
        hits = corpus.ask("Which river ferry broke down?").hits
        assert hits[0].article.file == "n1.txt" and "repaired" not in corpus.article_text(1)
        corpus.close()


QUESTION = "Which tourism year was launched in Kazakhstan in 2017?"


@contextlib.contextmanager
def seeds_on_shards(tmp_path, timeout_ms: int):
    """Two shards holding the seeds, a corpus on them, and its answer to QUESTION."""
    with running_shards(tmp_path, 2) as servers:
        corpus = open_shards(servers, timeout_ms=timeout_ms)
        corpus.ingest([SEEDS])
        before = corpus.ask(QUESTION)
        assert before.answered
        yield servers, corpus, before
        corpus.close()


def test_a_killed_shard_gives_one_line_then_recovers(tmp_path):
    question = QUESTION
    with seeds_on_shards(tmp_path, 2000) as (servers, corpus, before):
        servers[1].stop()
        with pytest.raises(StoreError, match=r"^1 of 2 shards answered \(127\.0\.0\.1:\d+ down\)"):
            corpus.ask(question)
        env = {"CORPUSBOT_BACKEND": "xapian", "CORPUSBOT_SHARDS": shards_setting(servers)}
        out = run("ask", question, env=env)
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert out.stderr.count("\n") == 1 and "shards answered" in out.stderr
        with pytest.raises(StoreError, match="1 of 2 shards answered"):
            corpus.ingest([SEEDS])  # writes need every shard
        servers[0].stop()
        with pytest.raises(StoreError, match="search is unavailable: none of the 2 shards"):
            corpus.ask(question)
        for server in servers:
            server.start()
        assert corpus.ask(question) == before  # reconnected, same answer


def test_a_hung_shard_times_out_with_one_line(tmp_path):
    question = QUESTION
    with seeds_on_shards(tmp_path, 500) as (servers, corpus, before):
        servers[0].signal(signal.SIGSTOP)
        try:
            with pytest.raises(StoreError, match="1 of 2 shards answered"):
                corpus.ask(question)
        finally:
            servers[0].signal(signal.SIGCONT)
        assert corpus.ask(question) == before


def test_idle_connections_dropped_by_the_server_are_reopened(tmp_path):
    with running_shards(tmp_path, 2, idle_ms=200) as servers:
        corpus = open_shards(servers)
        corpus.ingest([SEEDS])
        question = "What did Zhejiang seek at the Astana Expo?"
        first = corpus.ask(question)
        time.sleep(0.6)  # the servers close our idle connections
        assert corpus.ask(question) == first
        assert corpus.find_source("3").article.id == 3
        corpus.close()


def test_threads_each_use_their_own_connections(both):
    sqlite, xapian, _ = both
    qs = questions()[:12]
    expected = [sqlite.ask(q) for q in qs]
    results: dict[int, list] = {}

    def worker(n: int) -> None:
        results[n] = [xapian.ask(q) for q in qs]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got in results.values():
        assert [[(h.sentence, h.article) for h in a.hits] for a in got] == [
            [(h.sentence, h.article) for h in a.hits] for a in expected
        ]


def test_shard_serve_binds_loopback_and_stops_on_sigterm(tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import ROOT
    from .shards import free_port, wait_listening

    shard = tmp_path / "s"
    out = run("shard", "create", str(shard))
    assert out.returncode == 0, out.stderr
    again = run("shard", "create", str(shard))
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "not empty" in again.stderr
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "shard", "serve", str(shard), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_listening(port)
        line = proc.stdout.readline()
        assert f"on 127.0.0.1:{port}" in line
        servers = subprocess.run(
            ["ps", "-ww", "-eo", "pid,pgid,args"], capture_output=True, text=True
        )
        (tcpsrv,) = [
            r for r in servers.stdout.splitlines() if f"--port {port}" in r and "tcpsrv" in r
        ]
        assert "--interface 127.0.0.1" in tcpsrv
        assert int(tcpsrv.split()[1]) != os.getpgid(proc.pid)  # its own process group
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        with pytest.raises(RuntimeError):
            wait_listening(port, timeout=0.5)
    finally:
        if proc.poll() is None:  # SIGTERM: the wrapper stops its server's process group too
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    missing = run("shard", "serve", str(tmp_path / "nothing"), "--port", str(port))
    assert missing.returncode == 1 and "no shard database" in missing.stderr


def test_a_killed_serve_takes_its_server_down(tmp_path):
    """SIGKILL gives ``shard serve`` no chance to stop its server (its own process group):
    the server is told by the kernel instead, and the port is free again."""
    import subprocess
    import sys
    import time

    from .conftest import ROOT
    from .shards import free_port, wait_listening

    shard = tmp_path / "s"
    assert run("shard", "create", str(shard)).returncode == 0
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "shard", "serve", str(shard), "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(port)
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                wait_listening(port, timeout=0)
            except RuntimeError:
                break  # nothing listens any more
            time.sleep(0.05)
        else:
            pytest.fail(f"the server on port {port} outlived its killed serve")
    finally:
        subprocess.run(["pkill", "-f", f"tcpsrv .*--port {port} "], check=False)


def test_settings_and_shard_order_are_checked(tmp_path):
    assert Settings.load({}).backend == "sqlite"
    chosen = Settings.load({"CORPUSBOT_BACKEND": "xapian", "CORPUSBOT_SHARDS": "h:1, k:2"})
    assert [str(s) for s in chosen.xapian_shards] == ["h:1", "k:2"]
    flags = Settings.load({"CORPUSBOT_SHARDS": "h:1"}, backend="xapian", shards="k:2")
    assert (flags.backend, [str(s) for s in flags.xapian_shards]) == ("xapian", ["k:2"])
    for bad in ({"CORPUSBOT_BACKEND": "mysql"}, {"CORPUSBOT_BACKEND": "xapian"}):
        with pytest.raises(StoreError):
            Settings.load(bad)
    for bad in ("h", "h:0", "h:x", "h:1,h:1"):
        with pytest.raises(StoreError):
            parse_shards(bad)
    with running_shards(tmp_path, 2) as servers:
        open_shards(servers).ingest([SEEDS])
        with pytest.raises(
            StoreError, match="holds shard 2 of 2, but CORPUSBOT_SHARDS lists it as 1 of 2"
        ):
            open_shards(servers[::-1])
        env = {"CORPUSBOT_BACKEND": "xapian", "CORPUSBOT_SHARDS": str(servers[0].shard)}
        out = run("stats", env=env)
        assert out.returncode == 1 and "holds shard 1 of 2" in out.stderr
    out = run("stats", env={"CORPUSBOT_BACKEND": "xapian", "CORPUSBOT_SHARDS": "127.0.0.1:1"})
    assert out.returncode == 1 and "search is unavailable" in out.stderr


def test_a_path_argument_is_ignored_by_the_xapian_backend(tmp_path: Path, both):
    _, _, servers = both
    env = {"CORPUSBOT_BACKEND": "xapian", "CORPUSBOT_SHARDS": shards_setting(servers)}
    out = run("articles", db=tmp_path / "nothing.db", env=env)
    assert out.returncode == 0 and not (tmp_path / "nothing.db").exists()
