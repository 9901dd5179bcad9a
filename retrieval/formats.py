"""One file on disk → the articles in it, by format (``.txt``, ``.md``, ``.html``, ``.jsonl``).

- ``.txt`` / ``.md``: one article per file, read with the plain-text heuristics of
  :mod:`retrieval.articles` (title, outlet, byline, date, boilerplate lines skipped).
- ``.html`` / ``.htm``: one article per file; trafilatura extracts the title, date,
  author, site name and the main text with the boilerplate (menus, footers) removed.
- ``.jsonl``: one article per line, ``{"text": ..., "title", "url", "date", "outlet",
  "id"}`` (only ``text`` required). A malformed line is reported as ``path:line`` and
  skipped; the other lines go in.

``metadata.json`` overrides apply to one-article files (txt, md, html); a JSONL line
carries its own fields. Every article gets a content digest so the caller can skip
articles it already holds unchanged without parsing them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from retrieval.articles import (
    ParsedArticle,
    apply_overrides,
    digest,
    iso_date,
    parse_text,
    units,
)
from retrieval.errors import IngestError

TEXT_SUFFIXES = (".txt", ".md")
HTML_SUFFIXES = (".html", ".htm")
JSONL_SUFFIXES = (".jsonl",)
SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + JSONL_SUFFIXES

JSONL_FIELDS = ("text", "title", "url", "date", "outlet", "id")

# trafilatura logs every page it finds too short or undatable; our report says it once.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
logging.getLogger("htmldate").setLevel(logging.CRITICAL)


@dataclass
class FileArticles:
    """What one file holds, against the digests the store already has for it."""

    changed: list[tuple[str, ParsedArticle]] = field(default_factory=list)  # (digest, article)
    unchanged: list[str] = field(default_factory=list)  # article names
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path[:line], reason)
    names: set[str] = field(default_factory=set)  # every article name the file still holds


def jsonl_name(file_name: str, line_id: str) -> str:
    """The article name of one JSONL line: ``feed.jsonl#<id>`` (or ``#L<line>``)."""
    return f"{file_name}#{line_id}"


def read_articles(
    path: Path,
    name: str,
    meta: dict,
    known: dict[str, str],
    part: tuple[int, int, int] | None = None,
) -> FileArticles:
    """Read ``path`` (its articles named after ``name``); ``known`` maps article names to
    stored digests,
    so articles whose digest is unchanged are listed, not parsed. ``part`` is a slice of
    a large JSONL file: (start byte, end byte, number of its first line)."""
    out = FileArticles()
    try:
        if part is None:
            raw = path.read_bytes()
        else:
            with path.open("rb") as f:
                f.seek(part[0])
                raw = f.read(part[1] - part[0])
    except OSError as err:
        out.problems.append((str(path), err.strerror or str(err)))
        return out
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        _read_jsonl(path, name, raw, meta, known, out, first_line=part[2] if part else 1)
        return out
    content = digest(raw, meta)
    out.names.add(name)
    if known.get(name) == content:
        out.unchanged.append(name)
        return out
    try:
        if suffix in HTML_SUFFIXES:
            article = parse_html(name, raw)
        else:
            article = parse_plain(name, decode(raw), markdown=suffix == ".md")
        article = apply_overrides(article, meta)
        if not article.spans:
            raise IngestError("no article text found")
    except IngestError as err:
        out.names.discard(name)
        out.problems.append((str(path), str(err)))
        return out
    out.changed.append((content, article))
    return out


def decode(raw: bytes) -> str:
    """UTF-8 text of a file, or IngestError for binary, non-UTF-8 or empty files."""
    if b"\x00" in raw:
        raise IngestError("binary file (NUL bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise IngestError(f"not UTF-8 text (byte {err.start})") from err
    if not text.strip():
        raise IngestError("empty file")
    return text


def parse_plain(name: str, text: str, *, markdown: bool = False) -> ParsedArticle:
    article = parse_text(name, text)
    if markdown:
        # "# Title" is a heading to the text heuristics; the title itself has no hashes.
        article = replace(article, title=article.title.lstrip("#").strip() or article.title)
    return article


def body_spans(text: str, skip: str | None = None) -> tuple[tuple[int, int], ...]:
    """Every non-empty paragraph of already-clean text (hard-wrapped lines joined),
    except a line equal to ``skip`` (the headline repeated above the body)."""
    found = units(text)
    if skip is None:
        return tuple(found)
    # Lengths first: a paragraph is rarely as long as the headline, and a slice copies.
    n = len(skip)
    return tuple((s, e) for s, e in found if e - s != n or text[s:e] != skip)


def parse_html(name: str, raw: bytes) -> ParsedArticle:
    """Main text and metadata of an HTML page, boilerplate removed (trafilatura)."""
    import trafilatura  # slow to import (~0.3 s); only HTML needs it

    if b"\x00" in raw:
        raise IngestError("binary file (NUL bytes)")
    if not raw.strip():
        raise IngestError("empty file")
    try:
        doc = trafilatura.bare_extraction(
            raw,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            # Only a date the page states (meta tags, time elements, the URL): htmldate's
            # extensive search would take "Copyright 2024" in a footer for 2024-01-01.
            date_extraction_params={"original_date": True, "extensive_search": False},
        )
    except Exception as err:  # any parser failure is this file's problem, not ours
        raise IngestError(f"cannot parse HTML ({type(err).__name__})") from err
    text = (doc.text or "").strip() if doc is not None else ""
    if not text:
        raise IngestError("no article text found in the HTML")
    title = (doc.title or "").strip() or None
    return ParsedArticle(
        file=name,
        text=text,
        title=title or _first_line(text) or Path(name).stem,
        outlet=(doc.sitename or "").strip() or None,
        byline=(doc.author or "").strip() or None,
        date=iso_date(doc.date) if doc.date else None,
        url=(doc.url or "").strip() or None,
        spans=body_spans(text, skip=title),
    )


def _first_line(text: str) -> str:
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= 120 else line[:119].rsplit(" ", 1)[0] + "…"


def _read_jsonl(
    path: Path,
    name: str,
    raw: bytes,
    meta: dict,
    known: dict[str, str],
    out: FileArticles,
    first_line: int = 1,
) -> None:
    if b"\x00" in raw:
        out.problems.append((str(path), "binary file (NUL bytes)"))
        return
    if not raw.strip() and first_line == 1:
        out.problems.append((str(path), "empty file"))
        return
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    seen: dict[str, int] = {}
    for number, line in enumerate(raw.split(b"\n"), start=first_line):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = _jsonl_record(line)
        except IngestError as err:
            out.problems.append((where, str(err)))
            continue
        line_id = str(record["id"]) if record.get("id") is not None else f"L{number}"
        article_name = jsonl_name(name, line_id)
        if article_name in seen:
            out.problems.append((where, f"duplicate id {line_id!r} (line {seen[article_name]})"))
            continue
        seen[article_name] = number
        out.names.add(article_name)
        content = digest(line.strip(), meta)
        if known.get(article_name) == content:
            out.unchanged.append(article_name)
            continue
        text = record["text"]
        title = (record.get("title") or "").strip() or None
        article = ParsedArticle(
            file=article_name,
            text=text,
            title=title or _first_line(text),
            outlet=(record.get("outlet") or "").strip() or None,
            date=iso_date(record["date"]) if record.get("date") else None,
            url=(record.get("url") or "").strip() or None,
            spans=body_spans(text, skip=title),
        )
        if not article.spans:
            out.names.discard(article_name)
            out.problems.append((where, "no article text found"))
            continue
        out.changed.append((content, article))


def _jsonl_record(line: bytes) -> dict:
    """One JSONL line as a checked record, or IngestError saying what is wrong."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise IngestError(f"not UTF-8 text (byte {err.start})") from err
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise IngestError(f"not valid JSON ({err.msg} at column {err.colno})") from err
    if not isinstance(record, dict):
        raise IngestError("not a JSON object")
    body = record.get("text")
    if not isinstance(body, str) or not body.strip():
        raise IngestError('missing or empty "text"')
    for name in JSONL_FIELDS[1:]:
        value = record.get(name)
        if value is not None and not isinstance(value, str | int):
            raise IngestError(f'"{name}" must be a string')
    for name in ("title", "url", "date", "outlet"):
        if isinstance(record.get(name), int):
            record[name] = str(record[name])
    date = record.get("date")
    if isinstance(date, str) and date.strip() and iso_date(date) is None:
        raise IngestError(f'"date" is not a date: {date[:40]!r} (use YYYY-MM-DD)')
    for name, value in record.items():
        if isinstance(value, str) and not value.isascii():  # isascii: O(1), no surrogate
            # JSON may escape a lone surrogate ("\ud800"), which SQLite cannot store;
            # "replace" swaps each for "?" one-for-one.
            record[name] = value.encode("utf-8", "replace").decode("utf-8")
    return record
