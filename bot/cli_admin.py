"""The admin's commands of the command line: the question log of ``ask --log``,
``report`` (and ``--gold``), web pages and feeds (``ingest URL``, ``feeds``, ``watch``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from bot.cli_render import PROG
from retrieval import querylog
from retrieval.corpus import Corpus
from retrieval.errors import CorpusError
from retrieval.querylog import QueryLog, backend_name


def cli_query_log(corpus: Corpus) -> QueryLog | None:
    """``ask --log``: the corpus's question log, unless CORPUSBOT_QUERY_LOG is off or
    the corpus lives on Xapian shards (said once on stderr; the answers still come)."""
    try:
        enabled = querylog.settings().enabled
    except ValueError as err:
        raise CorpusError(str(err)) from err
    if not enabled:
        print(f"{PROG}: not logged: {querylog.ENABLED_ENV} is off", file=sys.stderr)
        return None
    if backend_name(corpus) != "sqlite":
        print(f"{PROG}: not logged: the question log needs the SQLite backend", file=sys.stderr)
        return None
    return querylog.for_corpus(corpus, enabled=True)


def _web(corpus: Corpus):  # -> retrieval.web.Web
    from retrieval.web import Web

    if backend_name(corpus) != "sqlite":
        raise CorpusError("web pages and feeds need the SQLite backend")
    # The commands print each fetch error as their own one line on stderr.
    logging.getLogger("corpusbot.web").addHandler(logging.NullHandler())
    return Web(corpus)


def ingest_urls(corpus: Corpus, urls: list[str], *, quiet: bool) -> bool:
    """``ingest URL``: each page (or feed, and its items) fetched and ingested; a fetch
    error is one line on stderr. Whether anything failed."""
    web = _web(corpus)
    failed = False
    try:
        for url in urls:
            result = web.add(url)
            pages = getattr(result, "pages", None)
            for item in [result, *(pages or [])]:
                if item.outcome == "error":
                    failed = True
                    print(f"{PROG}: {item.message}", file=sys.stderr)
                elif not quiet:
                    print(item.line())
    finally:
        web.close()
    return failed


def cmd_feeds(corpus: Corpus, args: argparse.Namespace) -> int:
    """``feeds [list]``, ``feeds add URL``, ``feeds remove URL``."""
    if args.action in ("add", "remove") and not args.url:
        raise CorpusError(f"`{PROG} feeds {args.action}` needs the feed's URL")
    web = _web(corpus)
    try:
        if args.action == "add":
            result = web.add_feed(args.url)
            if result.outcome == "error":
                raise CorpusError(result.message)
            print(result.line())
            print(f"registered {args.url}: `{PROG} watch` (or the bot) refreshes it")
        elif args.action == "remove":
            if not web.remove_feed(args.url):
                raise CorpusError(f"no feed {args.url} is registered (see `{PROG} feeds`)")
            print(f"removed {args.url} (its articles stay; `{PROG} remove` deletes one)")
        else:
            for feed in web.feeds():
                state = f"error: {feed.error}" if feed.error else f"checked {feed.checked_at}"
                print(f"{feed.url}  {feed.title or ''}  ({state})")
    finally:
        web.close()
    return 0


def cmd_watch(corpus: Corpus, args: argparse.Namespace) -> int:
    """Refresh the registered feeds every CORPUSBOT_REFRESH until stopped (``--once``: once)."""
    from retrieval.web import refresh_seconds

    try:
        every = refresh_seconds()
    except ValueError as err:
        raise CorpusError(str(err)) from err
    web = _web(corpus)
    try:
        while True:
            for result in web.refresh_all():
                for item in [result, *result.pages]:
                    if item.outcome == "error":
                        print(f"{PROG}: {item.message}", file=sys.stderr, flush=True)
                    elif item.outcome != "unchanged" or item is result:
                        print(item.line(), flush=True)
            if args.once:
                return 0
            time.sleep(every)
    finally:
        web.close()


def cmd_report(corpus: Corpus, args: argparse.Namespace) -> int:
    """What people asked and where the corpus falls short (docs/admin.md)."""
    from retrieval import report as reporting

    if backend_name(corpus) != "sqlite":
        raise CorpusError("the question log lives in the SQLite file: report needs that backend")
    try:
        since = reporting.parse_since(args.since or ("all" if args.gold else "7d"))
    except ValueError as err:
        raise CorpusError(str(err)) from err
    with QueryLog(corpus.path) as qlog:
        asked, votes = qlog.questions(since=since), qlog.votes(since=since)
    if args.gold:
        return _write_gold(args.gold, *reporting.gold_lines(asked, votes))
    web = _web(corpus)
    try:
        errors = web.errors(since)
    finally:
        web.close()
    report = reporting.build(
        asked, votes, corpus.articles(), since=since, top=args.top, fetch_errors=errors
    )
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        from rich.console import Console

        Console().print(reporting.render(report))
    return 0


def _write_gold(path: Path, confirmed: list[dict], todo: list[dict]) -> int:
    """``report --gold FILE``: FILE (confirmed answers) and FILE's stem + ``.todo.jsonl``."""
    todo_path = path.with_name(path.name.removesuffix(".jsonl") + ".todo.jsonl")
    for target, lines in ((path, confirmed), (todo_path, todo)):
        try:
            with target.open("w", encoding="utf-8") as f:
                f.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        except OSError as err:
            raise CorpusError(f"cannot write {target}: {err.strerror or err}") from err
    print(f"{len(confirmed)} confirmed answers → {path}")
    print(f"{len(todo)} questions to label (not found, or more 👎 than 👍) → {todo_path}")
    return 0
