"""How the command line shows what :class:`retrieval.corpus.Corpus` returns: answers,
articles and sources as text or JSON, and progress bars for long commands."""

from __future__ import annotations

import time

from retrieval.corpus import Corpus
from retrieval.embed import EmbedProgress
from retrieval.ingest import IngestProgress
from retrieval.models import Answer, Article, CorpusStats, SourceMatch, Status
from retrieval.rerank import INSTALL_HINT, describe_reranker

PROG = "corpusbot"


def article_json(article: Article) -> dict:
    return {
        "id": article.id,
        "file": article.file,
        "title": article.title,
        "outlet": article.outlet,
        "date": article.date,
    }


def answer_json(answer: Answer) -> dict:
    """The ``ask --json`` object (docs/cli.md, "Answer format")."""
    out = {
        "question": answer.question,
        "answered": answer.answered,
        "status": str(answer.status),
        "message": answer.message,
        "results": [
            {
                "rank": hit.rank,
                "text": hit.sentence.text,
                "score": round(hit.score, 6),
                "fused_score": None if hit.fused is None else round(hit.fused, 6),
                "sentence_id": hit.sentence.id,
                "position": hit.sentence.position,
                "article": article_json(hit.article),
            }
            for hit in answer.hits
        ],
        "within": None if answer.within is None else article_json(answer.within),
        "unnamed_article": answer.unnamed_article,
        "read_as": [{"typed": typed, "read": read} for typed, read in answer.read_as],
    }
    return out


UNNAMED_ARTICLE_TIP = (
    "Tip: the question speaks of one article (“this study”) without naming it; "
    f"`{PROG} ask --article NAME` asks within it."
)


def answer_text(answer: Answer) -> str:
    """The answer as the bot shows it: quotes with [n] markers, then the sources."""
    within = answer.within
    if not answer.answered:
        head = "Cannot search that."
        if answer.status is Status.NOT_FOUND:
            head = "Not found in the corpus." if within is None else "Not found in this article."
        lines = [f"{head} {answer.message}".strip()]
        if answer.terms:
            lines.append("Searched for: " + ", ".join(answer.terms))
        if answer.reading:
            lines.append(answer.reading)
        if within is not None:
            lines.append(f"Searched only: {within.citation()} ({within.file})")
        if answer.unnamed_article:
            lines.append(UNNAMED_ARTICLE_TIP)
        return "\n".join(lines)
    lines = [f"“{hit.sentence.text}” [{answer.marker(hit)}]" for hit in answer.hits]
    lines += ["", "Sources:"]
    lines += [f"[{c.number}] {c.article.citation()} ({c.article.file})" for c in answer.citations]
    if within is not None:
        lines.append("(asked within this article only)")
    if answer.reading:
        lines += ["", answer.reading]
    if answer.unnamed_article:
        lines += ["", UNNAMED_ARTICLE_TIP]
    return "\n".join(lines)


def article_line(article: Article) -> str:
    return f"{article.id:>6}  {article.citation()}  ({article.file})"


def source_text(corpus: Corpus, match: SourceMatch) -> str:
    if match.article is not None:
        a = match.article
        header = [a.title]
        meta = " | ".join(p for p in (a.outlet, a.byline and f"By {a.byline}", a.date) if p)
        if meta:
            header.append(meta)
        header.append(f"id {a.id}, file {a.file}")
        return "\n".join([*header, "", corpus.article_text(a.id).strip()])
    # A name pasted by mistake (a whole paragraph) is echoed short.
    query = match.query if len(match.query) <= 200 else match.query[:199] + "…"
    if match.candidates:
        return "\n".join(
            [f"No single article clearly matches “{query}”; the closest:"]
            + [article_line(a) for a in match.candidates]
        )
    return f"No article matches “{query}”. Try `{PROG} articles` for the list."


class ProgressBar:
    """A progress bar on stderr (rich), shown once the work has run for a second."""

    def __init__(self, label: str, unit: str) -> None:
        self.label, self.unit = label, unit
        self.started = time.monotonic()
        self.bar = None
        self.task = None

    def show(self, completed: int, total: int, rates: str) -> None:
        if self.bar is None:
            if time.monotonic() - self.started < 1:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn(self.label),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} " + self.unit),
                TextColumn("{task.fields[rates]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total, rates="")
        self.bar.update(self.task, completed=completed, total=total, rates=rates)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class IngestBar(ProgressBar):
    def __init__(self) -> None:
        super().__init__("ingesting", "files")

    def __call__(self, done: IngestProgress) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rates = (
            f"{done.files / elapsed:,.1f} files/s, {done.articles / elapsed:,.0f} articles/s, "
            f"{done.sentences / elapsed:,.0f} sentences/s"
        )
        self.show(done.files, done.files_total, rates)


class EmbedBar(ProgressBar):
    def __init__(self) -> None:
        super().__init__("embedding", "sentences")

    def __call__(self, done: EmbedProgress) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        self.show(done.done, done.total, f"{done.done / elapsed:,.0f} sentences/s")


def reranker_line(stats: CorpusStats) -> str:
    """Which re-ranker answers use, with what to do when it is not fully usable."""
    line = describe_reranker(stats)
    if not stats.reranker_ready and stats.reranker != "none":
        line += f" (install it with {INSTALL_HINT[stats.reranker]})"
    elif stats.reranker == "minilm" and stats.vectors < stats.sentences:
        line += f"; `{PROG} embed` adds the rest"
    return line
