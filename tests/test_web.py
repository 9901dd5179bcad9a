"""Articles from the web (retrieval/fetch.py, retrieval/web.py, ``corpusbot ingest URL``,
``feeds``, ``watch``) against a local site on 127.0.0.1 (tests/webserver.py): a feed
that repeats an item and links to a 404, a page that never answers in time, a huge page,
a PDF and a page robots.txt disallows. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import library
from retrieval.corpus import Corpus
from retrieval.fetch import USER_AGENT, Fetcher, FetchError
from retrieval.web import Web, refresh_seconds
from tests.test_cli import run
from tests.webserver import Site, serve

pytestmark = pytest.mark.unit

# The site's /slow sleeps 3 s; the site is on 127.0.0.1, which only allow_private reaches.
FAST = {"timeout": 0.5, "max_bytes": 1_000_000, "allow_private": True}
CABLE = "how long is the cable car line"


@pytest.fixture(autouse=True)
def local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with a proxy configured on the machine, 127.0.0.1 is reached directly."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as running:
        yield running


@pytest.fixture
def web(corpus_path: Path) -> Iterator[Web]:
    with Corpus.open(corpus_path) as corpus:
        w = Web(corpus, fetcher=Fetcher(**FAST))
        yield w
        w.close()


# ---------------------------------------------------------------------------- fetching


def test_fetch_names_the_project_and_goes_conditional(site: Site) -> None:
    fetcher = Fetcher(**FAST)
    first = fetcher.get(f"{site.base}/news/wheat")
    assert first.status == 200 and first.content_type == "text/html" and first.etag
    again = fetcher.get(f"{site.base}/news/wheat", etag=first.etag)
    assert again.not_modified and again.body == b""
    headers = site.requested("/news/wheat")
    assert all(h["User-Agent"] == USER_AGENT for h in headers)
    assert "corpusbot" in USER_AGENT and headers[-1]["If-None-Match"] == first.etag
    assert len(site.requested("/robots.txt")) == 1  # read once per site


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/news/gone", "HTTP 404"),
        ("/slow", "no answer within 0.5 s"),
        ("/huge", "6,600,012 bytes, over the 1,000,000 limit"),
        ("/huge-unsized", "over the 1,000,000 byte limit"),
        ("/private/memo", "robots.txt of 127.0.0.1"),
    ],
)
def test_fetch_faults_are_one_line(site: Site, path: str, says: str) -> None:
    with pytest.raises(FetchError) as err:
        Fetcher(**FAST).get(site.base + path)
    assert says in str(err.value) and "\n" not in str(err.value)
    if path == "/private/memo":
        assert site.requested(path) == []  # never fetched


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "127.0.0.1/page", ""])
def test_only_http_addresses(url: str) -> None:
    with pytest.raises(FetchError, match="not an http"):
        Fetcher().get(url)


def test_private_addresses_are_refused_unless_allowed(site: Site) -> None:
    for url in (f"{site.base}/news/wheat", "http://localhost:9/x", "http://169.254.169.254/a",
                "http://10.1.2.3/", "http://[::1]:9/"):  # fmt: skip
        with pytest.raises(FetchError, match="not a public address") as err:
            Fetcher(**(FAST | {"allow_private": False})).get(url)
        assert "CORPUSBOT_FETCH_PRIVATE=on" in str(err.value) and "\n" not in str(err.value)
    assert site.requested("/news/wheat") == [] and site.requested("/robots.txt") == []
    assert Fetcher(**FAST).get(f"{site.base}/news/wheat").status == 200


def test_a_name_that_turns_private_after_the_check_is_refused(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name resolves to a public address when checked, then to the
    test site on 127.0.0.1 when connected to. The connection is refused, nothing is sent."""
    import socket

    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])  # a public address, returned once (never contacted)

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.invalid":
            return real(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://rebind.invalid:{site.base.rsplit(':', 1)[1]}/news/wheat"
    with pytest.raises(FetchError, match=r"now resolves to 127\.0\.0\.1, not a public address"):
        Fetcher(**(FAST | {"allow_private": False})).get(url, robots=False)
    assert site.requested("/news/wheat") == []
    # allowed, the same name reaches the site: the refusal above was the check's doing
    answers = iter([])
    assert Fetcher(**FAST).get(url, robots=False).status == 200
    assert site.requested("/news/wheat") != []


def test_a_redirect_to_a_private_address_is_refused() -> None:
    import urllib.request

    from retrieval.fetch import _PublicRedirects

    request = urllib.request.Request("http://example.org/")
    with pytest.raises(FetchError, match="not a public address"):
        _PublicRedirects(False).redirect_request(request, None, 302, "Found", {},
                                                 "http://127.0.0.1/admin")  # fmt: skip
    with pytest.raises(FetchError, match="not an http"):
        _PublicRedirects(True).redirect_request(request, None, 302, "Found", {}, "file:///etc")
    allowed = _PublicRedirects(True).redirect_request(request, None, 302, "Found", {},
                                                      "http://127.0.0.1/ok")  # fmt: skip
    assert allowed.full_url == "http://127.0.0.1/ok"


def test_fetch_settings_from_the_environment() -> None:
    fetcher = Fetcher.from_env(
        {"CORPUSBOT_FETCH_TIMEOUT": "2.5", "CORPUSBOT_FETCH_MAX_BYTES": "99"}
    )
    assert (fetcher.timeout, fetcher.max_bytes) == (2.5, 99)
    with pytest.raises(ValueError, match="CORPUSBOT_FETCH_TIMEOUT"):
        Fetcher.from_env({"CORPUSBOT_FETCH_TIMEOUT": "soon"})
    assert fetcher.allow_private is False
    assert Fetcher.from_env({"CORPUSBOT_FETCH_PRIVATE": "on"}).allow_private is True
    with pytest.raises(ValueError, match="CORPUSBOT_FETCH_PRIVATE must be on or off"):
        Fetcher.from_env({"CORPUSBOT_FETCH_PRIVATE": "maybe"})
    assert refresh_seconds({}) == 1800 and refresh_seconds({"CORPUSBOT_REFRESH": "1h"}) == 3600
    with pytest.raises(ValueError, match="CORPUSBOT_REFRESH"):
        refresh_seconds({"CORPUSBOT_REFRESH": "5s"})


# ---------------------------------------------------------------------------- pages and feeds


def test_a_feed_with_every_fault(web: Web, site: Site, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="corpusbot.web"):
        result = web.add(f"{site.base}/feed.xml")
    assert result.outcome == "read" and result.title == "Steppe Daily"
    outcomes = {page.url.removeprefix(site.base): page.outcome for page in result.pages}
    assert outcomes == {
        "/news/cable-car": "added",
        "/news/wheat": "added",
        "/news/gone": "error",
        "/slow": "error",
        "/huge": "error",
        "/report.pdf": "error",
        "/private/memo": "error",
    }
    assert len(site.requested("/news/cable-car")) == 1  # repeated in the feed, fetched once
    pdf = next(p for p in result.pages if p.url.endswith(".pdf"))
    assert pdf.message.endswith("not an HTML page (application/pdf)")
    # One warning line a fault, and one stored row each for the report.
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 5 and all("\n" not in r.getMessage() for r in warnings)
    assert len(web.errors()) == 5
    # The articles answer questions, cited with their address.
    answer = web.corpus.ask(CABLE)
    assert answer.answered
    assert any("4.5 kilometres" in h.sentence.text for h in answer.hits)
    article = answer.hits[0].article
    assert article.url == f"{site.base}/news/cable-car" and article.outlet == "Steppe Daily"
    assert article.title == "Almaty opens a cable car to the Tuyuksu glacier"
    assert article.date == "2024-06-03"
    # Only the article text is kept: the menu and the footer are not stored.
    stored = web.corpus.article_text(article.id)
    assert "Tickets cost 3,000 tenge" in stored
    assert "Copyright" not in stored and "visitors today" not in stored


def test_same_text_unchanged_new_text_replaced(web: Web, site: Site) -> None:
    url = f"{site.base}/news/cable-car"
    assert web.page(url).outcome == "added"
    articles = web.corpus.stats().articles
    # A 304 (the ETag matches): nothing is read or written.
    assert web.page(url).outcome == "unchanged"
    assert site.requested("/news/cable-car")[-1]["If-None-Match"]
    # No ETag, a new page around the same article text: still unchanged.
    site.etags = False
    site.noise = "visitors today: 999"
    file = library.folder(web.corpus.path, "web")
    before = {p.name: p.stat().st_mtime_ns for p in file.iterdir()}
    assert web.page(url).outcome == "unchanged"
    assert {p.name: p.stat().st_mtime_ns for p in file.iterdir()} == before
    # The article itself changes: replaced, the old sentence gone.
    title, body = site.pages["/news/cable-car"]
    site.pages["/news/cable-car"] = (title, body.replace("4.5 kilometres", "4.6 kilometres"))
    assert web.page(url).outcome == "replaced"
    texts = [h.sentence.text for h in web.corpus.ask(CABLE).hits]
    assert any("4.6 kilometres" in t for t in texts) and not any("4.5 kil" in t for t in texts)
    assert web.corpus.stats().articles == articles


def test_registered_feeds_refresh_conditionally(web: Web, site: Site) -> None:
    site.feed_items = ["/news/cable-car", "/news/wheat"]
    added = web.add_feed(f"{site.base}/feed.xml")
    assert added.count("added") == 2
    assert web.add_feed(f"{site.base}/atom.xml").count("unchanged") == 1  # Atom: wheat again
    assert [f.url for f in web.feeds()] == [f"{site.base}/feed.xml", f"{site.base}/atom.xml"]
    rounds = web.refresh_all()
    assert [r.outcome for r in rounds] == ["read", "read"]
    assert all(p.outcome == "unchanged" for r in rounds for p in r.pages)
    # A feed that went away is one error, the others go on, and it is remembered.
    site.feed_items = ["/news/wheat"]
    assert web.remove_feed(f"{site.base}/atom.xml") and not web.remove_feed("http://x.test/")
    bad = web.add_feed(f"{site.base}/news/wheat")  # a page, not a feed
    assert bad.outcome == "error" and "not an RSS or Atom feed" in bad.message
    assert [f.url for f in web.feeds()] == [f"{site.base}/feed.xml"]


def test_a_feed_that_is_down_is_recorded_not_raised(web: Web, site: Site) -> None:
    site.feed_items = ["/news/wheat"]
    web.add_feed(f"{site.base}/feed.xml")
    with sqlite3.connect(web.corpus.path) as conn:
        conn.execute("UPDATE feeds SET url = ?", (f"{site.base}/gone.xml",))
    (result,) = web.refresh_all()
    assert result.outcome == "error" and "HTTP 404" in result.message
    (feed,) = web.feeds()
    assert feed.error and "HTTP 404" in feed.error and feed.checked_at


# ---------------------------------------------------------------------------- the CLI


def test_cli_ingest_url_feeds_and_watch(corpus_path: Path, site: Site) -> None:
    env = {"CORPUSBOT_FETCH_TIMEOUT": "0.5", "CORPUSBOT_FETCH_MAX_BYTES": "1000000",
           "NO_PROXY": "127.0.0.1", "CORPUSBOT_FETCH_PRIVATE": "on"}  # fmt: skip
    page = run("ingest", f"{site.base}/news/wheat", db=corpus_path, env=env)
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith(f"added {site.base}/news/wheat (Kostanay farmers")

    site.feed_items = ["/news/cable-car", "/news/wheat", "/news/gone", "/slow"]
    feed = run("ingest", f"{site.base}/feed.xml", db=corpus_path, env=env)
    assert feed.returncode == 1  # something failed...
    errors = feed.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in feed.stderr  # ...one line each
    assert errors[0] == f"corpusbot: {site.base}/news/gone: HTTP 404 Not Found"
    assert "added" in feed.stdout and f"unchanged {site.base}/news/wheat" in feed.stdout
    report = json.loads(run("report", "--json", db=corpus_path).stdout)
    assert [e["url"] for e in report["fetch_errors"]] == [
        f"{site.base}/news/gone",
        f"{site.base}/slow",
    ]

    site.feed_items = ["/news/cable-car"]
    added = run("feeds", "add", f"{site.base}/feed.xml", db=corpus_path, env=env)
    assert added.returncode == 0 and "registered" in added.stdout, added.stderr
    listed = run("feeds", db=corpus_path, env=env)
    assert listed.stdout.startswith(f"{site.base}/feed.xml  Steppe Daily  (checked ")
    title, body = site.pages["/news/cable-car"]
    site.pages["/news/cable-car"] = (title, body + "\n\nA second line opens in 2026.")
    watched = run("watch", "--once", db=corpus_path, env=env)
    assert watched.returncode == 0, watched.stderr
    assert f"replaced {site.base}/news/cable-car" in watched.stdout
    removed = run("feeds", "remove", f"{site.base}/feed.xml", db=corpus_path, env=env)
    assert removed.returncode == 0 and run("feeds", db=corpus_path).stdout == ""
    missing = run("feeds", "remove", f"{site.base}/feed.xml", db=corpus_path, env=env)
    assert missing.returncode == 1 and missing.stderr.startswith("corpusbot: error: no feed")

    with Corpus.open(corpus_path) as corpus:
        answer = corpus.ask("when does a second line open")
        assert answer.answered and "2026" in answer.hits[0].sentence.text
    lines = [json.loads(p.read_text()) for p in library.folder(corpus_path, "web").iterdir()]
    assert {line["url"] for line in lines} == {f"{site.base}/news/wheat",
                                               f"{site.base}/news/cable-car"}  # fmt: skip
