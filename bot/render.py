"""Answers and articles as Discord embeds, always within Discord's limits.

Everything shown here comes from documents or from users, so every piece of text goes
through :func:`safe` (markdown and mentions made inert) and is shortened *after* escaping
so an escape is never cut in half. Nothing in this module talks to Discord.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import discord

from retrieval.models import Answer, Article, CorpusStats, Sentence, Status
from retrieval.rerank import describe_reranker

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
CHOICE_NAME_LIMIT = 100
CONTENT_LIMIT = 2000
URL_LIMIT = 2048

# One quoted sentence at most this long, so three quotes and their markers fit one description.
QUOTE_LIMIT = 1000
# Article pages stay well under the description limit: easier to read, and the
# title + footer + page text stay under the 6,000 total.
PAGE_LIMIT = 3500

ELLIPSIS = "…"
COLOUR = discord.Colour.blurple()
NOT_FOUND_COLOUR = discord.Colour.orange()

_ZW_JOINERS = {"\u200d", "\u200c"}


# Characters Discord's markdown gives a meaning anywhere in a line: always escaped.
# (Discord, like simple-markdown, reads a backslash before any ASCII punctuation as an escape,
# so the escapes are invisible.)
# "[" is enough for links: a masked link [x](url) cannot start at an escaped bracket.
_ESCAPE_ANYWHERE = re.compile(r"([\\*_~|`\[])")
# Block markers that only count at the start of a line: headings, -# subtext, quotes and
# lists (- + and "1." / "1)"; * is escaped anyway). Escaped wherever a line starts.
_LINE_START = re.compile(r"^([ \t]*)([#>+-])", re.MULTILINE)
_NUMBERED = re.compile(r"^([ \t]*\d+)([.)])", re.MULTILINE)
# Mentions (<@id>, <@!id>, <@&role>), channels (<#id>), slash commands (</x:id>), emoji
# (<:x:id>, <a:x:id>), timestamps (<t:…>), guild navigation (<id:…>) and <url> links all
# start with "<" and a non-space: a zero-width space after the "<" breaks every one of them.
_ANGLE = re.compile(r"<")
# @everyone / @here, and "@" before a number (a bare user/role id).
_AT = re.compile(r"@(?=everyone|here|[!&]?\d)", re.IGNORECASE)
# Discord autolinks scheme://… (http, https, steam, …); a zero-width space in "://" stops it,
# which also leaves a masked link [x](http://…) with nothing to point at.
_SCHEME = re.compile(r":(?=//)")
# Lone surrogates cannot be encoded as UTF-8 (Discord rejects the request); C0/C1 controls
# other than newline and tab have no business in a message.
_UNSENDABLE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")
ZWSP = "\u200b"


def safe(text: str) -> str:
    """Make corpus text or a user's words inert: no markdown, no pings, no links.

    Markdown characters get a backslash (invisible in Discord), mentions, ``<…>`` tokens and
    ``scheme://`` links get a zero-width space, and unsendable code points become U+FFFD.
    The words shown stay the same; only their meaning to Discord is taken away.
    """
    text = _UNSENDABLE.sub(lambda m: "" if m.group() == "\r" else "\ufffd", text)
    text = _ESCAPE_ANYWHERE.sub(r"\\\1", text)
    text = _escape_line_starts(text)
    text = _ANGLE.sub("<" + ZWSP, text)
    text = _AT.sub("@" + ZWSP, text)
    return _SCHEME.sub(":" + ZWSP, text)


def _escape_line_starts(text: str) -> str:
    """Escape heading, quote and list markers at the start of each line of ``text``."""
    text = _LINE_START.sub(r"\1\\\2", text)
    return _NUMBERED.sub(r"\1\\\2", text)


def _cut(text: str, limit: int) -> str:
    """``text[:limit]`` moved back so it ends neither inside an escape nor inside a character.

    Python strings never split a code point, but a cut may still separate a base letter
    from its combining marks, break a ZWJ emoji sequence, or leave a lone backslash that
    would escape the ellipsis. Prefer to end at a word boundary when one is near.
    """
    cut = text[:limit]
    # Do not separate combining marks, variation selectors or joiners from what they modify.
    while (
        cut
        and len(cut) < len(text)
        and (
            unicodedata.combining(text[len(cut)])
            or text[len(cut)] in _ZW_JOINERS
            or text[len(cut)] == ZWSP  # keep "<", "@" or ":" with the space that disarms it
            or "\ufe00" <= text[len(cut)] <= "\ufe0f"
            or cut[-1] in _ZW_JOINERS
        )
    ):
        cut = cut[:-1]
    # Back off to the last space when it is close (a word is rarely longer than 30 chars).
    space = cut.rfind(" ")
    if space >= max(1, len(cut) - 30):
        cut = cut[:space]
    # An odd run of trailing backslashes is a half escape.
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut.rstrip()


def shorten(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else a clean prefix plus an ellipsis."""
    if limit < 1:
        return ""
    if len(text) <= limit:
        return text
    return _cut(text, limit - len(ELLIPSIS)) + ELLIPSIS


def safe_short(text: str, limit: int) -> str:
    """:func:`safe` then :func:`shorten`: the shown text is inert and fits ``limit``."""
    return shorten(safe(text), limit)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def citation_line(article: Article, limit: int = 300) -> str:
    """``Title — Outlet, date`` made inert, on one line."""
    return safe_short(_one_line(article.citation()), limit)


def choice_name(article: Article) -> str:
    """An autocomplete choice name (1–100 characters; shown as plain text, so not escaped)."""
    name = shorten(_one_line(article.citation()), CHOICE_NAME_LIMIT)
    return name or f"Article {article.id}"


def _footer(answer: Answer) -> str:
    terms = ", ".join(answer.terms) if answer.terms else "—"
    first = answer.offset + 1
    last = answer.offset + len(answer.hits)
    shown = f"results {first}–{last}" if answer.hits else "no results"
    more = " · press More for the next ones" if answer.has_more else ""
    return shorten(f"Searched for: {terms} · {shown}{more}", FOOTER_LIMIT)


def answer_embed(answer: Answer) -> discord.Embed:
    """The reply to ``/ask``: quotes with ``[n]`` markers and each source listed once."""
    if not answer.answered:
        return not_found_embed(answer)
    title = safe_short(_one_line(answer.question), TITLE_LIMIT) or "Your question"

    lines = []
    for hit in answer.hits:
        quote = safe_short(_one_line(hit.sentence.text), QUOTE_LIMIT)
        lines.append(f"**[{answer.marker(hit)}]** “{quote}”")
    description = shorten("\n\n".join(lines), DESCRIPTION_LIMIT)

    embed = discord.Embed(title=title, description=description, colour=COLOUR)
    sources = [f"**[{c.number}]** {citation_line(c.article, 300)}" for c in answer.citations]
    embed.add_field(
        name="Sources", value=shorten("\n".join(sources), FIELD_VALUE_LIMIT), inline=False
    )
    embed.set_footer(text=_footer(answer))
    return embed


def not_found_embed(answer: Answer) -> discord.Embed:
    """A helpful "not found": what was searched and what to try next (not an error)."""
    if answer.status is not Status.NOT_FOUND:
        title = "I can't search that"
    elif answer.offset > 0:  # "More" ran past the last result
        title = "No more results"
    else:
        title = "Not found in the corpus"
    parts = []
    if answer.message:
        parts.append(safe_short(answer.message, 1000))
    parts.append(f"**Your question:** {safe_short(_one_line(answer.question), 1000)}")
    if answer.terms:
        parts.append("**Searched for:** " + safe_short(", ".join(answer.terms), 1000))
    parts.append("Try other words (names, places, years), or browse the articles with `/source`.")
    return discord.Embed(
        title=title,
        description=shorten("\n\n".join(parts), DESCRIPTION_LIMIT),
        colour=NOT_FOUND_COLOUR,
    )


def context_embed(answer: Answer, contexts: Sequence[Sequence[Sentence]]) -> discord.Embed:
    """Each quote with the sentences around it; the quoted sentence in bold."""
    budget = (DESCRIPTION_LIMIT - 200) // max(1, len(answer.hits))
    blocks = []
    for hit, around in zip(answer.hits, contexts, strict=True):
        parts = []
        per = max(50, budget // max(1, len(around)) - 10)
        for sentence in around:
            text = safe_short(_one_line(sentence.text), per)
            parts.append(f"**{text}**" if sentence.id == hit.sentence.id else text)
        blocks.append(f"**[{answer.marker(hit)}]** " + " ".join(parts))
    embed = discord.Embed(
        title="Context",
        description=shorten("\n\n".join(blocks), DESCRIPTION_LIMIT),
        colour=COLOUR,
    )
    embed.set_footer(text="The quoted sentence is in bold, with the sentences around it.")
    return embed


def _split(text: str, limit: int) -> list[str]:
    """Split escaped text into chunks ≤ ``limit``: at paragraphs, then lines, then words."""
    chunks: list[str] = []
    current = ""
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        candidate = f"{current}\n\n{para}" if current else para
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            chunks.append(current)
            current = ""
        while len(para) > limit:
            piece = _cut(para, limit)
            if not piece:  # a single enormous token: cut hard, still never mid-escape
                piece = para[:limit].rstrip("\\")
            chunks.append(piece)
            para = para[len(piece) :].lstrip()
        current = para
    if current:
        chunks.append(current)
    # A chunk cut mid-line starts a new message line: "- x" or "1. x" there would be a list.
    return [_escape_line_starts(c) for c in chunks] or ["(this article has no text)"]


def article_pages(article: Article, text: str) -> list[discord.Embed]:
    """The whole article as embeds of at most :data:`PAGE_LIMIT` characters each."""
    chunks = _split(safe(text), PAGE_LIMIT)
    title = safe_short(_one_line(article.title), TITLE_LIMIT) or f"Article {article.id}"
    tail = safe(", ".join(p for p in (article.outlet, article.date) if p))
    pages = []
    for i, chunk in enumerate(chunks, start=1):
        embed = discord.Embed(title=title, description=chunk, colour=COLOUR)
        if _linkable(article.url):
            embed.url = article.url
        footer = f"Page {i}/{len(chunks)}" + (f" · {tail}" if tail else "")
        embed.set_footer(text=shorten(_one_line(footer), FOOTER_LIMIT))
        pages.append(embed)
    return pages


def _linkable(url: str | None) -> bool:
    """The article's own address may link its title: http(s), one token, a sane length."""
    return bool(
        url
        and url.startswith(("http://", "https://"))
        and len(url) <= URL_LIMIT
        and not re.search(r"[\s<>\x00-\x1f\x7f]", url)
    )


def article_filename(article: Article) -> str:
    """A safe ``.txt`` name for the attached full text."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", article.title).strip("-").lower()[:60]
    return f"{article.id}-{stem or 'article'}.txt"


def candidates_message(query: str, candidates: Sequence[Article]) -> str:
    """The ephemeral reply when ``/source`` input names no article clearly."""
    head = f"No article matches “{safe_short(_one_line(query), 200)}”."
    if not candidates:
        return head + " Start typing a title and pick one of the suggestions."
    lines = [f"• {citation_line(a, 150)} (id {a.id})" for a in candidates[:10]]
    return shorten(head + " Close matches:\n" + "\n".join(lines), CONTENT_LIMIT)


def about_embed(stats: CorpusStats) -> discord.Embed:
    """What the bot is, what it knows, how to ask."""
    embed = discord.Embed(
        title="corpusbot",
        description=(
            "I answer questions with exact sentences quoted from a news corpus, and cite the "
            "article each one comes from. I never make anything up: if the corpus does not "
            "say it, I tell you so."
        ),
        colour=COLOUR,
    )
    embed.add_field(name="Articles", value=f"{stats.articles:,}")
    embed.add_field(name="Sentences", value=f"{stats.sentences:,}")
    embed.add_field(name="Re-ranker", value=describe_reranker(stats))
    embed.add_field(
        name="How to ask",
        value=(
            "`/ask question:` a question in your own words (up to 300 characters).\n"
            "Buttons under an answer show the **Context**, **More** results, the full "
            "**Source**, and take your 👍/👎.\n"
            "`/source article:` read a whole article (start typing to search titles)."
        ),
        inline=False,
    )
    return embed
