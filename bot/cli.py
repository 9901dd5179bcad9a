"""The ``corpusbot`` command line: the local harness and the corpus tools.

Every command goes through :class:`retrieval.corpus.Corpus`, the same object the
Discord bot uses, and only renders what it returns (as text or JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from bot.cli_admin import cli_query_log, cmd_feeds, cmd_report, cmd_watch, ingest_urls
from bot.cli_render import (
    PROG,
    EmbedBar,
    IngestBar,
    answer_json,
    answer_text,
    article_json,
    article_line,
    reranker_line,
    source_text,
)
from retrieval.corpus import Corpus
from retrieval.embed import embed
from retrieval.errors import CorpusError, StoreError
from retrieval.evaluate import SquadSet
from retrieval.models import SourceMatch
from retrieval.querylog import backend_name
from retrieval.rerank import ENV as RERANKER_ENV
from retrieval.rerank import NAMES
from retrieval.settings import Settings

# -- commands ----------------------------------------------------------------------------


def _questions(arg: str, stdin: TextIO) -> Iterable[str]:
    if arg != "-":
        yield arg
        return
    for line in stdin:
        if line.strip():
            yield line.rstrip("\n")


def cmd_ask(corpus: Corpus, args: argparse.Namespace) -> int:
    article_id = None
    if args.article is not None:
        # The same lookup as `source`; anything but exactly one article stops here.
        match = corpus.find_source(args.article)
        if match.article is None:
            print(source_text(corpus, match), file=sys.stderr)
            return 1
        article_id = match.article.id
    qlog = cli_query_log(corpus) if args.log else None
    for question in _questions(args.question, sys.stdin):
        started = time.perf_counter()
        answer = corpus.ask(question, k=args.k, article_id=article_id)
        if qlog is not None:
            latency_ms = (time.perf_counter() - started) * 1000
            qlog.record(answer, k=args.k, latency_ms=latency_ms, backend=backend_name(corpus),
                        source="cli", question=question)  # fmt: skip
        if args.json:
            print(json.dumps(answer_json(answer), ensure_ascii=False), flush=True)
        else:
            print(answer_text(answer), flush=True)
            if args.question == "-":
                print(flush=True)
    if qlog is not None:
        qlog.close()
    return 0


def cmd_source(corpus: Corpus, args: argparse.Namespace) -> int:
    match = corpus.find_source(args.article)
    if args.json:
        out = {
            "query": match.query,
            "found": match.found,
            "article": article_json(match.article) if match.article else None,
            "text": corpus.article_text(match.article.id) if match.article else None,
            "candidates": [article_json(a) for a in match.candidates],
        }
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(source_text(corpus, match))
    return 0 if match.found else 1


def cmd_articles(corpus: Corpus, args: argparse.Namespace) -> int:
    articles = corpus.articles()
    if args.json:
        for a in articles:
            print(json.dumps(article_json(a) | {"sentences": a.sentences}, ensure_ascii=False))
    else:
        for a in articles:
            print(article_line(a))
    return 0


def cmd_ingest(corpus: Corpus, args: argparse.Namespace) -> int:
    urls = [p for p in args.paths if p.startswith(("http://", "https://"))]
    paths = [p for p in args.paths if p not in urls]
    failed = ingest_urls(corpus, urls, quiet=args.quiet) if urls else False
    if not paths:
        return 1 if failed else 0
    bar = None if args.quiet else IngestBar()
    try:
        report = corpus.ingest(paths, progress=bar)
    finally:
        if bar:
            bar.close()
    for path, reason in report.failed:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if not args.quiet:
        print(report.summary())
    failed = failed or bool(report.failed)
    if args.embed:
        embedded = cmd_embed(corpus, args)
        return embedded or (1 if failed else 0)
    return 1 if failed else 0


def cmd_embed(corpus: Corpus, args: argparse.Namespace) -> int:
    """Store MiniLM vectors for the sentences without one (docs/answer-quality.md, "Re-rankers")."""
    bar = None if args.quiet else EmbedBar()
    try:
        report = corpus.embed(progress=bar)
    finally:
        if bar:
            bar.close()
    if not args.quiet:
        print(report.summary())
    return 0


def cmd_remove(corpus: Corpus, args: argparse.Namespace) -> int:
    """Remove one article named exactly (id, file or title): deleting is not a search."""
    match = corpus.find_source(args.article)
    article = match.article
    name = " ".join(args.article.split()).casefold()
    if article is None or name not in {
        str(article.id), article.file.casefold(), Path(article.file).stem.casefold(),
        article.title.casefold(),
    }:  # fmt: skip
        if article is not None:
            match = SourceMatch(match.query, None, (article,))
        print(source_text(corpus, match), file=sys.stderr)
        print("Nothing removed: name the article by its id, file or exact title.", file=sys.stderr)
        return 1
    corpus.remove(article.id)
    if not args.quiet:
        print(f"removed {article_line(article).strip()}")
    return 0


def cmd_stats(corpus: Corpus, args: argparse.Namespace) -> int:
    stats = corpus.stats()
    if args.json:
        print(json.dumps(asdict(stats) | {"db": str(corpus.path)}))
    else:
        size = (
            f"{stats.db_bytes / 1e6:.2f} MB"
            if stats.db_bytes is not None
            else "size: on the shard servers"
        )
        print(f"database   {corpus.path} ({size})")
        print(f"articles   {stats.articles}")
        print(f"sentences  {stats.sentences}")
        print(f"terms      {stats.terms}")
        print(f"avg length {stats.avg_sentence_length:.1f} terms per sentence")
        print(f"re-ranker  {reranker_line(stats)}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Score a gold file (docs/answer-quality.md) through the bot's own answer().

    A dev-format JSON Lines file is asked of the corpus (``--db``); a SQuAD-format file or
    a BEIR folder with sentence judgements brings its own articles: they are ingested into
    a temporary corpus (or into ``--db`` when it names a file that does not exist yet,
    which is then kept for the next run)."""
    from retrieval import evaluate

    try:
        if evaluate.is_squad(args.gold):
            squad = evaluate.load_squad(args.gold)
            questions = list(squad.questions)
        elif evaluate.is_rationale_set(args.gold):
            squad = evaluate.load_rationale_set(args.gold)
            questions = list(squad.questions)
        elif args.gold.is_dir():
            raise ValueError(
                "a folder, but not a BEIR folder with sentence judgements "
                "(corpus_sentences.jsonl, queries.jsonl, qrels/test_sentences.tsv)"
            )
        else:
            squad, questions = None, evaluate.load_gold(args.gold)
    except (OSError, ValueError) as err:
        raise CorpusError(f"cannot read gold file {args.gold}: {err}") from err
    if args.typos is not None:
        from retrieval.chat_typing import typed_questions

        questions = typed_questions(questions, args.typos)
    with contextlib.ExitStack() as stack:
        if squad is None:
            corpus = stack.enter_context(_open(args))
        else:
            corpus = stack.enter_context(squad_corpus(squad, args.db, args.reranker))
        within: dict[str, int] = {}
        if args.within_article:
            files = {a.file: a.id for a in corpus.articles()}
            within = evaluate.gold_articles(questions, files)

        def scope(q: evaluate.GoldQuestion) -> int | None:
            return within.get(q.article) if q.article is not None else None

        report = evaluate.evaluate(
            questions,
            lambda q: corpus.ask(q.question, k=args.k, cut=False, article_id=scope(q)),
            lambda q: corpus.ask(q.question, k=args.k, article_id=scope(q)),
        )
        coverage = evaluate.span_coverage(questions, _searchable(corpus)) if squad else None
    if args.json:
        found = report.to_dict()
        if coverage is not None:
            found["answer_spans"] = coverage.to_dict()
        print(json.dumps(found, ensure_ascii=False))
    else:
        print(evaluate.format_table(report))
        if coverage is not None:
            print(coverage.line())
        if args.verbose:
            print("\n".join(["", *evaluate.misses(report)]))
    return 0


def _searchable(corpus: Corpus) -> Iterator[tuple[str, str, list[tuple[int, int]]]]:
    """Each stored article's file, text and searchable sentences' offsets."""
    for article in corpus.articles():
        sentences = corpus.store.article_sentences(article.id)
        yield article.file, corpus.article_text(article.id), [(s.start, s.end) for s in sentences]


@contextlib.contextmanager
def squad_corpus(
    squad: SquadSet, db: Path | None = None, reranker: str | None = None
) -> Iterator[Corpus]:
    """The corpus of a SQuAD set: ``db`` if it exists, else built by the normal ingest
    (into ``db``, or a temporary folder removed afterwards)."""
    if db is not None and db.exists():
        with Corpus.open(db, create=False, reranker=reranker) as corpus:
            yield corpus
        return
    with tempfile.TemporaryDirectory(prefix="corpusbot-eval-") as tmp:
        path = db if db is not None else Path(tmp) / "squad.db"
        with Corpus.create(path, reranker=reranker) as corpus:
            report = corpus.ingest([squad.write_jsonl(tmp)])
            if report.failed:
                raise CorpusError(f"ingest of the SQuAD articles failed: {report.failed[0]}")
            if corpus.reranker_name == "minilm":  # its candidates' vectors come from the store
                embed(corpus.store)
            yield corpus


def _token_configured() -> bool:
    return bool(os.environ.get("DISCORD_TOKEN", "").strip())


def cmd_run(args: argparse.Namespace) -> int:
    """``make run``: the Discord bot when a token is configured, else the local harness."""
    if _token_configured():
        return cmd_serve(args)
    from bot import harness

    with _open(args) as corpus:
        return harness.run(corpus, sys.stdin, sys.stdout)


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app import serve

    return serve(sync=getattr(args, "sync", False), settings=args.settings)


def cmd_shard_create(args: argparse.Namespace) -> int:
    from retrieval.xapian_writer import create_shard

    create_shard(args.dir)
    print(f"created an empty shard in {args.dir}")
    return 0


def cmd_shard_serve(args: argparse.Namespace) -> int:
    from retrieval.shard_server import serve

    return serve(args.dir, port=args.port, interface=args.interface, idle_ms=args.idle_timeout)


def _open(args: argparse.Namespace) -> Corpus:
    """The corpus the command works on (``args.settings``): the shards with the xapian
    backend (never a file), else ``--db``, else $CORPUSBOT_DB, else the default. Only the
    default is built from the seeds when missing; ``ingest`` starts a missing database
    empty (see :func:`_ingest_new`)."""
    return Corpus.open(settings=args.settings)


def _ingest_new(args: argparse.Namespace) -> int:
    """``ingest`` into a database that does not exist yet: your own corpus starts empty,
    not from the seeds, and an ingest that adds nothing leaves no database behind."""
    path = args.settings.db_path
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    corpus = Corpus.create(path)
    status = None
    try:
        with corpus:
            status = cmd_ingest(corpus, args)
            kept = corpus.stats().articles > 0
    finally:
        if status is None or not kept:
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
            for folder in made:  # innermost first; only the folders made here, if empty
                with contextlib.suppress(OSError):
                    folder.rmdir()
    if not kept:
        raise StoreError(f"nothing was ingested, so no database was created at {path}")
    return status


# -- entry point -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Answer questions with exact, cited sentences from a news corpus.",
    )
    db_help = "SQLite store (default: $CORPUSBOT_DB, else data/corpus.db in the project folder)"
    parser.add_argument("--db", type=Path, help=db_help)
    # --db after the command too (`corpusbot ask --db x.db …`): SUPPRESS keeps a --db
    # given before the command when none follows it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=argparse.SUPPRESS, help=db_help)
    parser.add_argument(
        "--backend",
        choices=("sqlite", "xapian"),
        help="where the corpus lives (default: $CORPUSBOT_BACKEND or sqlite)",
    )
    parser.add_argument(
        "--shards", help="Xapian shard servers host:port,… (default: $CORPUSBOT_SHARDS)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser = functools.partial(sub.add_parser, parents=[common])

    p = add_parser("ask", help="answer a question ('-' reads one question per line)")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="print JSON (JSON Lines with '-')")
    p.add_argument("-k", type=int, default=3, help="at most this many quotes (default 3)")
    p.add_argument(
        "--article",
        metavar="NAME",
        help="answer from this article only (an id, file, title words… as `source` takes)",
    )
    p.add_argument(
        "--log", action="store_true", help="store the question in the question log (docs/admin.md)"
    )
    _reranker_option(p)
    p.set_defaults(func=cmd_ask)

    p = add_parser("source", help="print a whole article, named by id, file, title, topic…")
    p.add_argument("article")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_source)

    p = add_parser("articles", help="list the corpus")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_articles)

    p = add_parser("ingest", help="add or update articles from files, folders or web addresses")
    p.add_argument("paths", nargs="+", help="files, folders, http(s) pages or RSS/Atom feeds")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary, only problems")
    p.add_argument(
        "--embed", action="store_true", help="then store MiniLM vectors (as `embed` does)"
    )
    p.set_defaults(func=cmd_ingest)

    p = add_parser("feeds", help="list, add or remove the RSS/Atom feeds `watch` refreshes")
    p.add_argument("action", nargs="?", choices=("list", "add", "remove"), default="list")
    p.add_argument("url", nargs="?")
    p.set_defaults(func=cmd_feeds)

    p = add_parser("watch", help="refresh the registered feeds every $CORPUSBOT_REFRESH (30m)")
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.set_defaults(func=cmd_watch)

    p = add_parser("embed", help="store MiniLM vectors of the sentences without one")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary, only problems")
    p.set_defaults(func=cmd_embed)

    p = add_parser("remove", help="delete one article (by id, file or exact title)")
    p.add_argument("article")
    p.add_argument("--quiet", action="store_true", help="print only problems")
    p.set_defaults(func=cmd_remove)

    p = add_parser("stats", help="counts of articles, sentences and terms")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = add_parser("eval", help="score answers against a gold file (hit@k, MRR, abstention)")
    p.add_argument(
        "gold",
        type=Path,
        help="dev-format JSON Lines, SQuAD JSON or a BEIR folder with sentence judgements "
        "(docs/answer-quality.md)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-k", type=int, default=5, help="quotes asked per question (default 5)")
    p.add_argument("-v", "--verbose", action="store_true", help="list the misses")
    p.add_argument(
        "--within-article",
        action="store_true",
        help="ask each question within its gold article, as `ask --article` does",
    )
    p.add_argument(
        "--typos",
        type=int,
        nargs="?",
        const=0,
        metavar="SEED",
        help="ask each question as typed in chat: lowercase, no punctuation, one typo "
        "(drawn from SEED, default 0)",
    )
    _reranker_option(p)
    p.set_defaults(func=None, run=cmd_eval)

    p = add_parser("report", help="what people asked, and where the corpus falls short")
    p.add_argument(
        "--since", help="7d (the report's default), 24h, 2w, a date, or all (--gold's default)"
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--top", type=int, default=10, help="rows in each list (default 10)")
    p.add_argument(
        "--gold",
        type=Path,
        metavar="FILE",
        help="write confirmed answers as a gold file for `eval`, the rest to FILE.todo.jsonl",
    )
    p.set_defaults(func=cmd_report)

    p = add_parser("run", help="the Discord bot if DISCORD_TOKEN is set, else the harness")
    _reranker_option(p)
    p.set_defaults(func=None, run=cmd_run)

    p = sub.add_parser("shard", help="create or serve a Xapian shard (README: Beyond one machine)")
    shard = p.add_subparsers(dest="shard_command", required=True, metavar="ACTION")
    q = shard.add_parser("create", help="create an empty shard database in DIR")
    q.add_argument("dir", type=Path)
    q.set_defaults(func=None, run=cmd_shard_create)
    q = shard.add_parser("serve", help="serve DIR with xapian-tcpsrv until stopped")
    q.add_argument("dir", type=Path)
    q.add_argument("--port", type=int, required=True)
    q.add_argument("--interface", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    q.add_argument("--idle-timeout", type=int, metavar="MS", help="drop connections idle this long")
    q.set_defaults(func=None, run=cmd_shard_serve)

    p = add_parser("serve", help="start the Discord bot")
    p.add_argument("--sync", action="store_true", help="sync slash commands before serving")
    _reranker_option(p)
    p.set_defaults(func=None, run=cmd_serve)
    return parser


def _reranker_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reranker",
        choices=NAMES,
        help=f"semantic re-ranker (default: ${RERANKER_ENV} or wordllama)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(
        backend=args.backend,
        shards=args.shards,
        db=args.db,
        reranker=getattr(args, "reranker", None),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bot.config import load_env_file

    load_env_file()  # every command reads the same .env as the bot (the environment wins)
    try:
        # One settings object from the flags and the environment, for every command.
        args.settings = None if args.command == "shard" else _settings(args)
        if args.func is None:
            return args.run(args)
        if (
            args.func is cmd_ingest
            and args.settings.backend == "sqlite"
            and not args.settings.db_path.exists()
        ):
            return _ingest_new(args)
        with _open(args) as corpus:
            return args.func(corpus, args)
    except CorpusError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:
        if os.environ.get("CORPUSBOT_DEBUG"):
            raise
        print(f"{PROG}: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
