"""One plain-text article file → :class:`ParsedArticle` (metadata + searchable spans).

News text scraped from the web carries navigation, bylines, captions and footers.
The heuristics here find what they can; a ``metadata.json`` next to the articles
overrides them per file (see docs/corpus-format.md). The stored text is always
the complete file, so ``/source`` shows everything; only the *spans* decide what is
searchable.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from retrieval.errors import IngestError
from retrieval.stopwords import STOPWORDS

METADATA_FILE = "metadata.json"
OVERRIDABLE = ("title", "outlet", "byline", "date", "url")

_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DMY = re.compile(rf"(?<!\d)(\d{{1,2}})\s+({_MONTH_RE})\.?,?\s+(\d{{4}})", re.I)
_MDY = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}}),?\s+(\d{{4}})", re.I)

_DATE_LINE = re.compile(
    r"^\s*(?:date|updated|published|posted|last updated)?\s*:?\s*\d{4}-\d{1,2}-\d{1,2}\b", re.I
)
_BYLINE = re.compile(r"^\s*By\s+\S", re.I)
_BREADCRUMB = re.compile(r"\S\s*>\s*\S.*>|^\s*\S+(?:\s+\S+)?\s*>\s*\S+")
_CREDIT = re.compile(r"\[[A-Z][A-Z .'/&-]{2,}\]\s*$")
_FOOTER_START = re.compile(r"^\s*(?:BACK TO (?:THE )?TOP|Copyright\b|©)", re.I)
_FOOTER_LINE = re.compile(
    r"^\s*(?:All rights reserved|Global Edition|License for publishing|Registration Number)", re.I
)
# "ASTANA. KAZINFORM - ", "BEIJING (Reuters) - ": a dateline, not part of the first sentence.
_DATELINE = re.compile(r"^[A-Z][A-Z .,'()/]{2,60}?\s[-–—]{1,2}\s(?=\S)")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_TERMINAL = tuple(".!?\"”’')…:;")
_HEADING_MAX_WORDS = 15
_BREADCRUMB_MAX_WORDS = 20
_FOOTER_MAX_WORDS = 300  # a footer is a few notices, not an article's worth of text


@dataclass(frozen=True)
class ParsedArticle:
    """An article ready to store: full ``text`` plus the spans that are searchable."""

    file: str
    text: str
    title: str
    outlet: str | None = None
    byline: str | None = None
    date: str | None = None
    url: str | None = None
    spans: tuple[tuple[int, int], ...] = field(default=())


@functools.lru_cache(maxsize=4096)  # articles share dates; each is checked, then read
def iso_date(text: str) -> str | None:
    """The first date in ``text`` as ``YYYY-MM-DD`` (ISO, ``7 June 2017``, ``June 7, 2017``)."""
    candidates = []
    if m := _ISO_DATE.search(text):
        candidates.append((m.start(), int(m[1]), int(m[2]), int(m[3])))
    if m := _DMY.search(text):
        candidates.append((m.start(), int(m[3]), _MONTHS[m[2].lower()], int(m[1])))
    if m := _MDY.search(text):
        candidates.append((m.start(), int(m[3]), _MONTHS[m[1].lower()], int(m[2])))
    for _, y, mo, d in sorted(candidates):
        try:
            return date(y, mo, d).isoformat()
        except ValueError:
            continue
    return None


def units(text: str) -> list[tuple[int, int]]:
    """Non-empty lines as (start, end) spans, whitespace trimmed; hard-wrapped prose
    lines are joined: a line with no final punctuation and a non-empty next line, when
    the line is long (60 characters or more), or ends with a lower-case function word
    ("of", "the"), or the next line goes on in lower case (a sentence wrapped at a
    narrow width, as text taken from a PDF's columns is)."""
    # One pass, no slicing: a line's line break is whitespace, so stripping the line
    # with it gives the same text and the same start as stripping it without.
    found: list[tuple[int, int]] = []
    joinable = continued = False
    pos = 0
    for raw in text.splitlines(keepends=True):
        stripped = raw.strip()
        if not stripped:
            joinable = continued = False
        else:
            start = pos + len(raw) - len(raw.lstrip())
            end = start + len(stripped)
            # A line that goes on in lower case continues the sentence above it, however
            # short the lines are wrapped ("a first or spring wave" / "began in March").
            if joinable or (continued and stripped[0].islower()):
                found[-1] = (found[-1][0], end)
            else:
                found.append((start, end))
            continued = not stripped.endswith(_TERMINAL)
            # A long line, or one ending with a function word ("were among the" / "Young
            # adults"), goes on in the next line whatever its case.
            joinable = continued and (len(stripped) >= 60 or _ends_with_function_word(stripped))
        pos += len(raw)
    return found


def _ends_with_function_word(line: str) -> bool:
    last = line.rsplit(None, 1)[-1]
    return last.islower() and last in STOPWORDS  # "of", "the"; not "I" or "A"


def _words_after(text: str, end: int) -> int:
    return len(text[end:].split(maxsplit=_FOOTER_MAX_WORDS + 1))


def _is_breadcrumb(line: str) -> bool:
    # Only a short line: a paragraph holding a flattened table (">25 kDa ... >50 kDa")
    # matches the pattern too, and its sentences are real.
    return len(line.split()) <= _BREADCRUMB_MAX_WORDS and _BREADCRUMB.search(line) is not None


def _is_heading(line: str) -> bool:
    return not line.endswith(_TERMINAL) and len(line.split()) <= _HEADING_MAX_WORDS


def parse_text(file: str, text: str) -> ParsedArticle:
    """Guess title, outlet, byline, date and the searchable spans of a plain-text article."""
    title: str | None = None
    outlet = byline = when = None
    body: list[tuple[int, int]] = []
    headings: list[str] = []
    seen_body = False
    in_footer = False
    after_repeat = False
    seen_headings: set[str] = set()
    for start, end in units(text):
        line = text[start:end]
        if in_footer:
            continue
        if _FOOTER_START.match(line):
            # The page's footer, unless the article goes on after it (a PDF's cover page
            # ends with "© 2020 Published by ..." and the paper follows).
            in_footer = _words_after(text, end) <= _FOOTER_MAX_WORDS
            continue
        if _FOOTER_LINE.match(line):
            continue
        if _DATE_LINE.match(line):
            when = when or iso_date(line)
            continue
        if _BYLINE.match(line) and "|" in line:
            parts = [p.strip() for p in line.split("|")]
            byline = byline or re.sub(r"^\s*By\s+", "", parts[0], flags=re.I)
            outlet = outlet or next((p for p in parts[1:] if p and not iso_date(p)), None)
            when = when or iso_date(line)
            continue
        if " | " in line and _YEAR.search(line) and len(line.split()) <= 20:
            outlet = outlet or line.split("|")[0].strip()
            when = when or iso_date(line)
            continue
        if _is_breadcrumb(line) or (" | " in line and _is_heading(line)):
            continue
        if _is_heading(line):
            if line in seen_headings:
                after_repeat = True  # a headline repeated above a photo caption
            elif not seen_body:
                headings.append(line)
            seen_headings.add(line)
            continue
        if after_repeat or _CREDIT.search(line):
            after_repeat = False
            continue  # a photo caption
        if not seen_body:
            seen_body = True
            title = headings[-1] if headings else None
            if m := _DATELINE.match(line):
                start += m.end()
        body.append((start, end))
    if title is None:
        title = headings[-1] if headings else _fallback_title(text, body, file)
    return ParsedArticle(
        file=file,
        text=text,
        title=title,
        outlet=outlet,
        byline=byline,
        date=when,
        spans=tuple(body),
    )


def _fallback_title(text: str, body: list[tuple[int, int]], file: str) -> str:
    if not body:
        return Path(file).stem
    first = text[body[0][0] : body[0][1]]
    return first if len(first) <= 120 else first[:119].rsplit(" ", 1)[0] + "…"


def metadata_problem(meta: dict) -> str | None:
    """What is wrong with one ``metadata.json`` entry (naming the field), or None.

    ``title``, ``outlet``, ``byline``, ``url``: non-empty strings (``url`` an http(s)
    address); ``date``: a string :func:`iso_date` reads; ``exclude``: a list of non-empty
    strings. Any other field is a mistake (a misspelt field would be silently ignored)."""
    for name, value in meta.items():
        if name not in (*OVERRIDABLE, "exclude"):
            known = ", ".join(f'"{f}"' for f in (*OVERRIDABLE, "exclude"))
            return f'metadata.json: unknown field "{name}" (use {known})'
        if name == "exclude":
            if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
                return 'metadata.json: "exclude" must be a list of non-empty strings'
        elif not isinstance(value, str) or not value.strip():
            return f'metadata.json: "{name}" must be a non-empty string'
        elif name == "date" and iso_date(value) is None:
            return f'metadata.json: "date" is not a date: {value[:40]!r} (use YYYY-MM-DD)'
        elif name == "url" and not re.fullmatch(r"https?://\S+", value.strip()):
            return f'metadata.json: "url" must be an http(s) address: {value[:40]!r}'
    return None


def apply_overrides(article: ParsedArticle, meta: dict) -> ParsedArticle:
    """Apply a ``metadata.json`` entry (checked by :func:`metadata_problem`): field
    overrides and ``exclude`` strings."""
    if problem := metadata_problem(meta):
        raise IngestError(problem)
    fields = {k: meta[k].strip() for k in OVERRIDABLE if k in meta}
    if "date" in fields:
        fields["date"] = iso_date(fields["date"])
    spans = list(article.spans)
    for snippet in meta.get("exclude", []):
        spans = _cut(article.text, spans, snippet)
    return replace(article, spans=tuple(spans), **fields)


def _cut(text: str, spans: list[tuple[int, int]], snippet: str) -> list[tuple[int, int]]:
    """Remove every occurrence of ``snippet`` from the spans."""
    if not snippet:
        return spans
    holes = [(m.start(), m.start() + len(snippet)) for m in re.finditer(re.escape(snippet), text)]
    out = []
    for start, end in spans:
        pieces = [(start, end)]
        for h_start, h_end in holes:
            next_pieces = []
            for s, e in pieces:
                if h_end <= s or h_start >= e:
                    next_pieces.append((s, e))
                    continue
                if s < h_start:
                    next_pieces.append((s, h_start))
                if h_end < e:
                    next_pieces.append((h_end, e))
            pieces = next_pieces
        out.extend((s, e) for s, e in pieces if text[s:e].strip())
    return out


def load_metadata(folder: Path) -> dict[str, dict]:
    """Read ``folder/metadata.json`` (``{file name: {field: value}}``); {} when absent."""
    path = folder / METADATA_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IngestError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise IngestError(f"{path}: expected an object of {{file name: {{field: value}}}}")
    return data


# The version of how an article is read into sentences, part of its digest. A change to
# the reading that should reach stores built before it (docs/decisions/
# 025-sentencex-misreadings.md, 026-words-hyphenated-at-a-line-break.md) gives it a new
# value: their articles then count as changed at the next ingest of the same files, and are
# read again.
READING = b"3: words hyphenated at a line break read whole"


def digest(raw: bytes, meta: dict | None) -> str:
    """Hash of a file's content, its metadata entry and :data:`READING`: unchanged hash →
    nothing to do."""
    h = hashlib.sha256(raw)
    if meta:
        h.update(json.dumps(meta, sort_keys=True).encode())
    h.update(READING)
    return h.hexdigest()


@functools.lru_cache(maxsize=4096)  # articles share dates, and strftime costs ~30 µs
def date_words(iso: str | None) -> str:
    """Searchable forms of a date for naming articles: ``2017-06-07 June 2017 Jun 7``."""
    if not iso:
        return ""
    try:
        d = date.fromisoformat(iso[:10])  # strptime costs ~30 µs an article
    except ValueError:
        return iso
    return f"{iso} {d:%B} {d:%b} {d.year} {d.day} {d:%d/%m/%Y} {d:%m/%d/%Y}"
