"""Articles from the web: a page's address, or an RSS/Atom feed of them.

``corpusbot ingest URL``, ``/corpus add url:``, ``corpusbot watch`` and the bot's feed
refresh all come here. A page is fetched (:mod:`retrieval.fetch`: robots.txt,
conditional GET, timeouts, a size cap), its article extracted by trafilatura (the HTML
reader of :mod:`retrieval.formats`), and kept as a one-line JSON Lines file in the web
folder beside the database (``corpus.db.web/``, one file a URL), which then goes
through the one ingest path (:meth:`retrieval.corpus.Corpus.ingest`) like any file:

- the same URL with the same text is unchanged (the file is not even rewritten; a 304
  is not even read), whatever else changed on the page around the article;
- the same URL with new text replaces its article;
- a fetch error is one warning line and one row in ``web_fetches`` (``corpusbot
  report`` lists them), never an exception out of a feed refresh.

A feed is read with feedparser; each item's page is fetched once per refresh however
often the feed repeats it. Registered feeds live in the ``feeds`` table of the same
database (made on first use, like the question log's tables).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import sqlite_utils

from retrieval import library
from retrieval.errors import CorpusError, IngestError
from retrieval.fetch import Fetched, Fetcher, FetchError, check_url
from retrieval.formats import parse_html
from retrieval.querylog import now_iso
from retrieval.side_tables import SideTables

if TYPE_CHECKING:
    from retrieval.corpus import Corpus

log = logging.getLogger("corpusbot.web")

HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
)
MAX_ITEMS = 50  # pages fetched from one feed per refresh
REFRESH_ENV = "CORPUSBOT_REFRESH"
DEFAULT_REFRESH = 30 * 60.0


def refresh_seconds(environ: dict[str, str] | None = None) -> float:
    """``CORPUSBOT_REFRESH``: ``30m`` (default), ``1h``, ``90s`` or seconds; ``ValueError``
    with one line for anything else (or under a minute: feeds are not a chat)."""
    raw = ((environ if environ is not None else os.environ).get(REFRESH_ENV) or "").strip()
    if not raw:
        return DEFAULT_REFRESH
    found = re.fullmatch(r"(\d+)\s*([smh]?)", raw.casefold())
    if not found:
        raise ValueError(f"{REFRESH_ENV} must look like 30m, 1h or 900, not {raw!r}")
    seconds = int(found[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[found[2]]
    if seconds < 60:
        raise ValueError(f"{REFRESH_ENV} must be at least a minute, not {raw!r}")
    return float(seconds)


@dataclass(frozen=True)
class PageResult:
    url: str
    outcome: str  # "added" | "replaced" | "unchanged" | "error"
    title: str = ""
    message: str = ""  # the error, for "error"

    def line(self) -> str:
        if self.outcome == "error":
            return f"error {self.message}"
        return f"{self.outcome} {self.url}" + (f" ({self.title})" if self.title else "")


@dataclass
class FeedResult:
    url: str
    outcome: str  # "read" | "unchanged" | "error"
    title: str = ""
    message: str = ""
    pages: list[PageResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for p in self.pages if p.outcome == outcome)

    def line(self) -> str:
        if self.outcome == "error":
            return f"error {self.message}"
        if self.outcome == "unchanged":
            return f"unchanged feed {self.url}"
        counts = ", ".join(
            f"{self.count(o)} {o}" for o in ("added", "replaced", "unchanged", "error")
        )
        return f"feed {self.url}: {len(self.pages)} items: {counts}"


@dataclass(frozen=True)
class Feed:
    url: str
    title: str | None
    added_at: str
    checked_at: str | None
    error: str | None


def _create_tables(db: sqlite_utils.Database) -> None:
    db["feeds"].create(
        {"url": str, "title": str, "etag": str, "last_modified": str,
         "added_at": str, "checked_at": str, "error": str},
        pk="url", if_not_exists=True,
    )  # fmt: skip
    db["web_pages"].create(
        {"url": str, "file": str, "etag": str, "last_modified": str,
         "fetched_at": str, "title": str},
        pk="url", if_not_exists=True,
    )  # fmt: skip
    db["web_fetches"].create(
        {"id": int, "at": str, "url": str, "error": str}, pk="id", if_not_exists=True
    )


class Web:
    """The web side of one corpus (SQLite backend): its folder and its tables."""

    def __init__(self, corpus: Corpus, *, fetcher: Fetcher | None = None):
        self.corpus = corpus
        try:
            self.fetcher = fetcher or Fetcher.from_env()
        except ValueError as err:
            raise CorpusError(str(err)) from err
        self.folder = library.folder(corpus.path, "web")
        self._tables = SideTables(corpus.path, _create_tables, timeout=10)

    # -- state ---------------------------------------------------------------------------

    def _db(
        self, *, write: bool = False
    ) -> contextlib.AbstractContextManager[sqlite_utils.Database]:
        return self._tables.db(write=write)

    def _row(self, table: str, url: str) -> dict | None:
        with self._db() as db:
            if not db[table].exists():
                return None
            rows = list(db.query(f"SELECT * FROM [{table}] WHERE url = ?", [url]))
        return rows[0] if rows else None

    def _save(self, table: str, row: dict) -> None:
        with self._db(write=True) as db:
            db[table].upsert(row, pk="url")

    def _failed(self, url: str, err: Exception) -> str:
        message = str(err).replace("\n", " ")[:500]
        log.warning("fetch failed: %s", message)
        with contextlib.suppress(sqlite3.Error), self._db(write=True) as db:
            db["web_fetches"].insert({"at": now_iso(), "url": url, "error": message})
        return message

    def errors(self, since: str | None = None) -> list[dict]:
        """Fetch errors (``at``, ``url``, ``error``), oldest first, since ``since``."""
        with self._db() as db:
            if not db["web_fetches"].exists():
                return []
            sql = "SELECT at, url, error FROM web_fetches"
            params = []
            if since:
                sql += " WHERE at >= ?"
                params.append(since)
            return list(db.query(sql + " ORDER BY id", params))

    def close(self) -> None:
        self._tables.close()

    # -- pages ---------------------------------------------------------------------------

    def add(self, url: str) -> PageResult | FeedResult:
        """A page or a feed, whichever the address serves (by its content type)."""
        try:
            url = check_url(url)
            state = self._row("web_pages", url)
            fetched = self._get(url, state)
        except FetchError as err:
            return PageResult(url, "error", message=self._failed(url, err))
        if not fetched.not_modified and _is_feed(fetched):
            return self._read_feed(url, fetched)
        return self._page(url, fetched)

    def page(self, url: str) -> PageResult:
        """Fetch one article page and ingest it (added, replaced or unchanged)."""
        try:
            url = check_url(url)
            fetched = self._get(url, self._row("web_pages", url))
        except FetchError as err:
            return PageResult(url, "error", message=self._failed(url, err))
        return self._page(url, fetched)

    def _get(self, url: str, state: dict | None) -> Fetched:
        kept = state is not None and (self.folder / state["file"]).exists()
        return self.fetcher.get(
            url,
            etag=state["etag"] if kept else None,
            last_modified=state["last_modified"] if kept else None,
        )

    def _page(self, url: str, fetched: Fetched) -> PageResult:
        if fetched.not_modified:
            state = self._row("web_pages", url) or {}
            return PageResult(url, "unchanged", state.get("title") or "")
        try:
            if fetched.content_type not in HTML_TYPES:
                raise FetchError(f"{url}: not an HTML page ({fetched.content_type or 'no type'})")
            article = parse_html(url, fetched.body)
        except CorpusError as err:  # FetchError, IngestError
            return PageResult(url, "error", message=self._failed(url, err))
        record = {
            "id": "page",
            "title": article.title,
            "text": article.text,
            "url": article.url if article.url and article.url.startswith("http") else url,
            "outlet": article.outlet or urlsplit(url).hostname,
            "date": article.date,
        }
        line = json.dumps({k: v for k, v in record.items() if v}, ensure_ascii=False) + "\n"
        path = self.folder / file_name(url)
        if not path.exists() or path.read_text(encoding="utf-8") != line:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(line, encoding="utf-8")
            os.replace(tmp, path)
        report = self.corpus.ingest([path])
        if report.failed:
            _, reason = report.failed[0]
            return PageResult(url, "error", message=self._failed(url, IngestError(reason)))
        outcome = "added" if report.added else "replaced" if report.replaced else "unchanged"
        self._save(
            "web_pages",
            {"url": url, "file": path.name, "etag": fetched.etag,
             "last_modified": fetched.last_modified, "fetched_at": now_iso(),
             "title": article.title},
        )  # fmt: skip
        log.info("web page %s %s", outcome, url)
        return PageResult(url, outcome, article.title)

    # -- feeds ---------------------------------------------------------------------------

    def refresh(self, url: str) -> FeedResult:
        """Read one feed (conditionally) and fetch each item's page once."""
        state = self._row("feeds", url)
        try:
            url = check_url(url)
            fetched = self.fetcher.get(
                url,
                etag=state["etag"] if state else None,
                last_modified=state["last_modified"] if state else None,
            )
        except FetchError as err:
            message = self._failed(url, err)
            if state is not None:
                self._save("feeds", {"url": url, "checked_at": now_iso(), "error": message})
            return FeedResult(url, "error", message=message)
        if fetched.not_modified:
            self._save("feeds", {"url": url, "checked_at": now_iso(), "error": None})
            return FeedResult(url, "unchanged", state.get("title") or "" if state else "")
        result = self._read_feed(url, fetched)
        if state is not None:
            self._save(
                "feeds",
                {"url": url, "checked_at": now_iso(), "error": result.message or None,
                 "etag": None if result.outcome == "error" else fetched.etag,
                 "last_modified": None if result.outcome == "error" else fetched.last_modified,
                 "title": result.title or state.get("title")},
            )  # fmt: skip
        return result

    def _read_feed(self, url: str, fetched: Fetched) -> FeedResult:
        import feedparser

        parsed = feedparser.parse(fetched.body)
        if not parsed.entries and (parsed.bozo or not parsed.feed):
            err = FetchError(f"{url}: not an RSS or Atom feed")
            return FeedResult(url, "error", message=self._failed(url, err))
        title = str(parsed.feed.get("title") or "")
        links = []
        for entry in parsed.entries:
            link = str(entry.get("link") or "").strip()
            if link and link not in links:
                links.append(link)
        result = FeedResult(url, "read", title)
        for link in links[:MAX_ITEMS]:
            result.pages.append(self.page(link))
        log.info("%s", result.line())
        return result

    def feeds(self) -> list[Feed]:
        with self._db() as db:
            if not db["feeds"].exists():
                return []
            rows = db.query(
                "SELECT url, title, added_at, checked_at, error FROM feeds ORDER BY added_at"
            )
            return [Feed(**row) for row in rows]

    def add_feed(self, url: str) -> FeedResult:
        """Register a feed and read it now; a URL that is no feed is not registered."""
        url = check_url(url)
        if self._row("feeds", url) is not None:
            return self.refresh(url)
        try:
            fetched = self.fetcher.get(url)
        except FetchError as err:
            return FeedResult(url, "error", message=self._failed(url, err))
        if not _is_feed(fetched):
            message = self._failed(url, FetchError(f"{url}: not an RSS or Atom feed"))
            return FeedResult(url, "error", message=message)
        result = self._read_feed(url, fetched)
        if result.outcome != "error":
            self._save(
                "feeds",
                {"url": url, "title": result.title, "etag": fetched.etag,
                 "last_modified": fetched.last_modified, "added_at": now_iso(),
                 "checked_at": now_iso(), "error": None},
            )  # fmt: skip
        return result

    def remove_feed(self, url: str) -> bool:
        """Stop refreshing a feed (its articles stay); whether it was registered."""
        with self._db(write=True) as db:
            return db.conn.execute("DELETE FROM feeds WHERE url = ?", (url.strip(),)).rowcount > 0

    def refresh_all(self) -> list[FeedResult]:
        """One round over every registered feed; an error in one never stops the others."""
        return [self.refresh(feed.url) for feed in self.feeds()]


def _is_feed(fetched: Fetched) -> bool:
    if fetched.content_type in FEED_TYPES:
        return True
    head = fetched.body[:512].lstrip().lower()
    return fetched.content_type in ("", "text/plain") and (
        head.startswith(b"<?xml") or head.startswith((b"<rss", b"<feed"))
    )


def file_name(url: str) -> str:
    """The web folder's file for ``url``: readable, and unique by a hash of the URL."""
    parts = urlsplit(url)
    path = re.sub(r"\.html?$", "", parts.path)
    readable = re.sub(r"[^\w.]+", "-", f"{parts.hostname}{path}", flags=re.ASCII).strip("-.")[:60]
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{readable}-{digest}.jsonl"
