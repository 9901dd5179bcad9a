"""Files and folders → articles, sentences and postings, in one transaction per batch.

Re-ingesting an unchanged file does nothing (content hash); a changed file replaces
its article; a file that cannot be read or parsed is reported and skipped while the
rest of the batch goes in. An interrupted ingest leaves the previous corpus intact
because nothing is committed until the whole batch is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from retrieval import text as textmod
from retrieval.articles import (
    METADATA_FILE,
    ParsedArticle,
    apply_overrides,
    digest,
    load_metadata,
    parse_text,
)
from retrieval.errors import IngestError
from retrieval.index import PostingsBuilder, refresh_totals, remove_sentences
from retrieval.segment import sentences as segment
from retrieval.store import Store

SUFFIXES = (".txt", ".md")


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    sentences: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.replaced)} replaced, "
            f"{len(self.unchanged)} unchanged, {len(self.failed)} failed; "
            f"{self.sentences} sentences indexed"
        )


@dataclass(frozen=True)
class SourceFile:
    path: Path
    key: str  # the article's ``file``: path relative to the folder given
    meta: dict


def discover(paths: Iterable[str | Path]) -> Iterator[SourceFile | tuple[str, str]]:
    """Files to ingest under ``paths`` (folders recursively), or (path, reason) problems."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.name == METADATA_FILE or file.suffix.lower() not in SUFFIXES:
                    continue
                try:
                    meta = load_metadata(file.parent).get(file.name, {})
                except IngestError as err:
                    yield str(file), str(err)
                    continue
                yield SourceFile(file, file.relative_to(path).as_posix(), meta)
        elif path.is_file():
            try:
                meta = load_metadata(path.parent).get(path.name, {})
            except IngestError as err:
                yield str(path), str(err)
                continue
            yield SourceFile(path, path.name, meta)
        else:
            yield str(path), "no such file or folder"


def read_article(source: SourceFile, raw: bytes) -> ParsedArticle:
    """Decode and parse one file; raises IngestError with a short reason."""
    if b"\x00" in raw:
        raise IngestError("binary file (NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise IngestError(f"not UTF-8 text (byte {err.start})") from err
    if not text.strip():
        raise IngestError("empty file")
    article = apply_overrides(parse_text(source.key, text), source.meta)
    if not article.spans:
        raise IngestError("no article text found")
    return article


def ingest(
    store: Store,
    paths: Iterable[str | Path],
    *,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest files and folders into ``store``: one transaction for the whole batch."""
    report = IngestReport()
    todo: list[tuple[SourceFile, str, ParsedArticle, int | None]] = []
    for item in discover(paths):
        if isinstance(item, tuple):
            report.failed.append(item)
            continue
        try:
            raw = item.path.read_bytes()
        except OSError as err:
            report.failed.append((str(item.path), err.strerror or str(err)))
            continue
        content = digest(raw, item.meta)
        existing = store.article_digest(item.key)
        if existing and existing[1] == content:
            report.unchanged.append(item.key)
            continue
        try:
            article = read_article(item, raw)
        except IngestError as err:
            report.failed.append((str(item.path), str(err)))
            continue
        todo.append((item, content, article, existing[0] if existing else None))
    if todo:
        with store.write():
            for _, _, _, old_id in todo:
                if old_id is not None:
                    _remove(store, old_id)
            builder = PostingsBuilder()
            next_id = store.totals().max_sentence_id + 1
            for item, content, article, old_id in todo:
                next_id = _add(store, article, item.key, content, builder, next_id)
                (report.replaced if old_id is not None else report.added).append(item.key)
                if progress:
                    progress(1)
            report.sentences = builder.sentences
            builder.merge_into(store, next_id - 1)
    return report


def _date_words(iso: str | None) -> str:
    """Searchable forms of a date for naming articles: ``2017-06-07 June 2017 Jun 7``."""
    if not iso:
        return ""
    try:
        d = datetime.strptime(iso[:10], "%Y-%m-%d")
    except ValueError:
        return iso
    return f"{iso} {d:%B} {d:%b} {d.year} {d.day} {d:%d/%m/%Y} {d:%m/%d/%Y}"


def _add(store: Store, article: ParsedArticle, file: str, content: str,
         builder: PostingsBuilder, next_id: int) -> int:
    rows = []
    for position, (start, end) in enumerate(segment(article.text, article.spans)):
        text = article.text[start:end]
        length = builder.add(next_id, textmod.tokenize(text))
        rows.append(
            {"id": next_id, "position": position, "start": start, "end": end,
             "length": length, "text": text}
        )
        next_id += 1
    article_id = store.db["articles"].insert(
        {
            "file": file, "digest": content, "title": article.title,
            "outlet": article.outlet, "byline": article.byline, "date": article.date,
            "url": article.url, "n_sentences": len(rows), "dates": _date_words(article.date),
            "text": article.text,
        }
    ).last_pk
    for row in rows:
        row["article_id"] = article_id
    store.db["sentences"].insert_all(rows, batch_size=1000)
    return next_id


def _remove(store: Store, article_id: int) -> None:
    """Delete an article, its sentences and their postings (caller holds a transaction)."""
    conn = store.conn
    rows = conn.execute(
        "SELECT id, length, text FROM sentences WHERE article_id = ?", (article_id,)
    ).fetchall()
    totals = store.totals()
    if rows:
        ids = [r[0] for r in rows]
        terms = {t for r in rows for t in textmod.tokenize(r[2])}
        remove_sentences(store, min(ids), max(ids), terms)
        conn.execute("DELETE FROM sentences WHERE article_id = ?", (article_id,))
    conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
    refresh_totals(
        store,
        sentences=totals.sentences - len(rows),
        tokens=totals.tokens - sum(r[1] for r in rows),
        max_sentence_id=totals.max_sentence_id,
    )


def remove(store: Store, article_id: int) -> None:
    """Remove one article from the corpus, in its own transaction."""
    with store.write():
        _remove(store, article_id)
