"""Answers and articles as Discord embeds, always within Discord's limits.

Everything shown here comes from documents or from users, so every piece of text goes
through :func:`safe` (markdown and mentions made inert) and is shortened *after* escaping
so an escape is never cut in half. Nothing in this module talks to Discord.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence

import discord

from retrieval.models import Answer, Article, CorpusStats, Hit, Sentence, Status
from retrieval.text import tokenize

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
BUTTON_URL_LIMIT = 512  # a link button's url
# A title is linked inline only to an address this short, so a source line stays short.
INLINE_URL_LIMIT = 300

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


def choice_name(article: Article) -> str:
    """An autocomplete choice name (1–100 characters; shown as plain text, so not escaped)."""
    name = shorten(_one_line(article.citation()), CHOICE_NAME_LIMIT)
    return name or f"Article {article.id}"


# -- answers -----------------------------------------------------------------------------

# A word as the tokenizer reads one (retrieval.text): numbers with inner separators, or
# letters/digits with inner apostrophes.
_WORD = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:['’][^\W_]+)*")


def question_terms(answer: Answer) -> frozenset[str]:
    """The terms searched for ``answer`` (stems), to find the question's words in a quote."""
    return frozenset(answer.terms) or frozenset(tokenize(answer.question))


def highlight(text: str, terms: Iterable[str], limit: int) -> str:
    """``text`` made inert, on one line, with the words whose stem is in ``terms`` in bold,
    in at most ``limit`` characters (cut between words, never inside an escape or a bold)."""
    terms = frozenset(terms)
    text = _one_line(text)
    shown = _highlight_all(text, terms)
    if len(shown) <= limit:
        return shown
    # Escapes and ** make the shown text longer than the source: cut the source until it fits.
    keep = len(text)
    while keep > 0:
        keep = max(0, min(keep - 1, keep - (len(shown) - limit) // 2))
        piece = _cut(text, keep)
        shown = _highlight_all(piece, terms) + ELLIPSIS
        if len(shown) <= limit:
            return shown
        keep = len(piece)
    return ELLIPSIS[:limit]


def _highlight_all(text: str, terms: frozenset[str]) -> str:
    # Spans of matching words; words separated only by spaces share one bold span.
    spans: list[list[int]] = []
    for m in _WORD.finditer(text):
        if terms and set(tokenize(m.group())) & terms:
            if spans and not text[spans[-1][1] : m.start()].strip():
                spans[-1][1] = m.end()
            else:
                spans.append([m.start(), m.end()])
    out: list[str] = []
    at = 0
    for start, end in spans:
        before = safe(text[at:start])
        # "@" then a bold word: keep "@everyone" from reading as a mention however shown.
        out.append(before + ZWSP if before.endswith("@") else before)
        out.append(f"**{safe(text[start:end])}**")
        at = end
    out.append(safe(text[at:]))
    return "".join(out)


def citation_numbers(hits: Iterable[Hit]) -> dict[int, int]:
    """Article id → its citation number: 1, 2, … in order of first appearance in ``hits``."""
    numbers: dict[int, int] = {}
    for hit in hits:
        numbers.setdefault(hit.article.id, len(numbers) + 1)
    return numbers


def page_numbers(answer: Answer, earlier: Mapping[int, int] | None = None) -> dict[int, int]:
    """Citation numbers for a page: ``earlier`` pages' numbers kept, new articles after."""
    numbers = dict(earlier or {})
    for hit in answer.hits:
        numbers.setdefault(hit.article.id, len(numbers) + 1)
    return numbers


def shows_numbers(answer: Answer, numbers: Mapping[int, int]) -> bool:
    """Whether ``[n]`` markers are needed: more than one source, or one that is not [1]."""
    return {numbers[h.article.id] for h in answer.hits} != {1}


def source_link(article: Article, limit: int = 200) -> str:
    """The article's title, linked to its ``url`` when it has a sane one, then outlet and date."""
    title = safe_short(_one_line(article.title), limit // 2) or f"Article {article.id}"
    tail = safe_short(_one_line(", ".join(p for p in (article.outlet, article.date) if p)), 80)
    if _linkable(article.url) and len(article.url or "") <= INLINE_URL_LIMIT:
        # Inside a link label a "]" would end the label early.
        label = title.replace("]", "\\]")
        title = f"[{label}]({_link_target(article.url or '')})"
    return f"{title} · {tail}" if tail else title


def _link_target(url: str) -> str:
    # A ")" would end a masked link's address; percent-encoding keeps the same page.
    return url.replace("(", "%28").replace(")", "%29")


def _attribution(article: Article, number: int | None) -> str:
    marker = f"**[{number}]** " if number is not None else ""
    return f"— {marker}{source_link(article)}"


def _quote_block(lines: Sequence[str]) -> str:
    return "\n".join(f"> {line}" for line in lines)


def answer_embed(answer: Answer, numbers: Mapping[int, int] | None = None) -> discord.Embed:
    """The reply to ``/ask`` (and each page of ``More``).

    The first quote is the answer, in a quote block with its source below it; the other
    quotes support it, grouped by source in a "Supporting quotes" field. The question's
    words are bold inside the quotes. ``numbers`` (article id → citation number) carries
    the numbering of earlier pages so ``[1]`` stays the same article; citation numbers are
    shown only when there is more than one source to tell apart.
    """
    if not answer.answered:
        return not_found_embed(answer)
    numbers = page_numbers(answer, numbers)
    numbered = shows_numbers(answer, numbers)

    def number(hit: Hit) -> int | None:
        return numbers[hit.article.id] if numbered else None

    terms = question_terms(answer)
    first, *rest = answer.hits
    lead = highlight(first.sentence.text, terms, QUOTE_LIMIT)
    description = f"{_quote_block([lead])}\n{_attribution(first.article, number(first))}"
    title = safe_short(_one_line(answer.question), TITLE_LIMIT) or "Your answer"
    embed = discord.Embed(title=title, description=description, colour=COLOUR)
    if rest:
        embed.add_field(name="Supporting quotes", value=_support(rest, terms, number), inline=False)
    footer = []
    if answer.offset:
        footer.append(f"Quotes {answer.offset + 1}–{answer.offset + len(answer.hits)}")
    if answer.within is not None:
        footer.append(within_line(answer.within))
    if answer.reading:
        footer.append(shorten(answer.reading, FOOTER_LIMIT // 2))
    if answer.unnamed_article:
        footer.append(UNNAMED_ARTICLE_TIP)
    if footer:
        embed.set_footer(text=" · ".join(footer))
    return embed


UNNAMED_ARTICLE_TIP = (
    "Asking about one article (“this study”)? Pick it in /ask's article option to search it alone."
)


def within_line(article: Article) -> str:
    """Says an answer searched one article only (plain text: a footer renders no
    markdown and pings no one)."""
    return shorten(f"Only in: {_one_line(article.title)}", FOOTER_LIMIT)


def _support(
    hits: Sequence[Hit], terms: frozenset[str], number: Callable[[Hit], int | None]
) -> str:
    """Supporting quotes grouped by article (first appearance order), within a field value."""
    groups: dict[int, list[Hit]] = {}
    for hit in hits:
        groups.setdefault(hit.article.id, []).append(hit)
    attributions = [_attribution(g[0].article, number(g[0])) for g in groups.values()]
    overhead = sum(len(a) + 2 for a in attributions) + 4 * len(hits)
    per_quote = max(60, (FIELD_VALUE_LIMIT - overhead) // len(hits))
    blocks = []
    for group, attribution in zip(groups.values(), attributions, strict=True):
        quotes = [highlight(h.sentence.text, terms, per_quote) for h in group]
        blocks.append(f"{_quote_block(quotes)}\n{attribution}")
    return shorten("\n\n".join(blocks), FIELD_VALUE_LIMIT)


def not_found_embed(answer: Answer) -> discord.Embed:
    """A helpful, private "not found": the question as read and what to try next."""
    if answer.status is not Status.NOT_FOUND:
        title = "I can't search that"
    elif answer.offset > 0:  # "More" ran past the last result
        title = "No more results"
    elif answer.within is not None:
        title = "Not found in this article"
    else:
        title = "Not found in the corpus"
    parts = []
    if answer.message:
        parts.append(safe_short(answer.message, 1000))
    if answer.within is not None:
        parts.append(f"**Searched only:** {source_link(answer.within, 300)}")
    if answer.reading:
        parts.append(safe_short(answer.reading, 1000))
    if answer.unnamed_article:
        parts.append(UNNAMED_ARTICLE_TIP)
    if answer.question.strip():
        parts.append(f"**Your question:** {safe_short(_one_line(answer.question), 1000)}")
    parts.append("Try other words (names, places, years), or browse the articles with `/source`.")
    return discord.Embed(
        title=title,
        description=shorten("\n\n".join(parts), DESCRIPTION_LIMIT),
        colour=NOT_FOUND_COLOUR,
    )


def context_embed(
    windows: Sequence[Sequence[Sentence]],
    quoted: Iterable[int],
    articles: Mapping[int, Article],
) -> discord.Embed:
    """Each passage around the quotes (overlapping windows already merged), the quoted
    sentences in bold, under the article they come from."""
    quoted = set(quoted)
    budget = (DESCRIPTION_LIMIT - 200) // max(1, len(windows))
    blocks = []
    for window in windows:
        article = articles.get(window[0].article_id) if window else None
        if article is None:
            continue
        heading = source_link(article, 160)
        per = max(50, (budget - len(heading)) // max(1, len(window)) - 10)
        parts = []
        for sentence in window:
            text = safe_short(_one_line(sentence.text), per)
            parts.append(f"**{text}**" if sentence.id in quoted else text)
        blocks.append(f"{heading}\n{_quote_block([' '.join(parts)])}")
    embed = discord.Embed(
        title="Context",
        description=shorten("\n\n".join(blocks), DESCRIPTION_LIMIT) or "Nothing to show.",
        colour=COLOUR,
    )
    embed.set_footer(text="The quoted sentences are in bold, with the sentences around them.")
    return embed


# -- articles ----------------------------------------------------------------------------


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


def article_pages(article: Article, body: str) -> list[discord.Embed]:
    """The article's body as embeds of at most :data:`PAGE_LIMIT` characters each; the page
    count is in the footer only when there is more than one page."""
    chunks = _split(safe(body), PAGE_LIMIT)
    title = safe_short(_one_line(article.title), TITLE_LIMIT) or f"Article {article.id}"
    tail = safe(", ".join(p for p in (article.outlet, article.date) if p))
    pages = []
    for i, chunk in enumerate(chunks, start=1):
        embed = discord.Embed(title=title, description=chunk, colour=COLOUR)
        if _linkable(article.url):
            embed.url = article.url
        parts = [f"Page {i}/{len(chunks)}"] if len(chunks) > 1 else []
        parts += [tail] if tail else []
        if parts:
            embed.set_footer(text=shorten(_one_line(" · ".join(parts)), FOOTER_LIMIT))
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


def link_url(article: Article) -> str | None:
    """The address a link button may open: the article's ``url`` when it is sane and
    within a link button's limit."""
    url = article.url
    return url if _linkable(url) and len(url or "") <= BUTTON_URL_LIMIT else None


FILENAME_STEM = 60


def article_filename(article: Article) -> str:
    """A safe ``.txt`` name for the attached text, cut between words (never inside "2017")."""
    words = re.findall(r"[A-Za-z0-9]+", article.title.lower())
    stem = ""
    for word in words:
        candidate = f"{stem}-{word}" if stem else word
        if len(candidate) > FILENAME_STEM:
            break
        stem = candidate
    if not stem and words:  # one enormous word: a cut is unavoidable
        stem = words[0][:FILENAME_STEM]
    return f"{article.id}-{stem or 'article'}.txt"


def no_article_message(query: str) -> str:
    """The private reply when ``/source`` input matches no article at all."""
    return shorten(
        f"No article matches “{safe_short(_one_line(query), 200)}”. Start typing a title, "
        "an outlet or a date, and pick one of the suggestions.",
        CONTENT_LIMIT,
    )


SEVERAL_MATCH = "Several articles match — pick one."
EMPTY_QUESTION = (
    "Please type a question in words, for example: *Which tourism year was launched "
    "in Kazakhstan in 2017?* (Mentions, emoji and formatting are left out.)"
)


def ask_within_message(query: str, *, several: bool) -> str:
    """The private reply when ``/ask``'s ``article`` does not name exactly one article."""
    found = "Several articles match" if several else "No article matches"
    return shorten(
        f"{found} “{safe_short(_one_line(query), 200)}”. Start typing a title, an outlet "
        "or a date in the article option and pick one of the suggestions, or leave it "
        "empty to search every article.",
        CONTENT_LIMIT,
    )


OPTION_LABEL_LIMIT = 100  # Discord: select option label and description, 1–100 characters
OPTION_DESCRIPTION_LIMIT = 100


def option_label(article: Article) -> str:
    """A select option's label: the title (plain text in Discord, so not escaped)."""
    return shorten(_one_line(article.title), OPTION_LABEL_LIMIT) or f"Article {article.id}"


def option_description(article: Article) -> str | None:
    """A select option's description: outlet and date, when known."""
    tail = _one_line(", ".join(p for p in (article.outlet, article.date) if p))
    return shorten(tail, OPTION_DESCRIPTION_LIMIT) or None


def about_embed(stats: CorpusStats, help_command: str | None = None) -> discord.Embed:
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
    embed.add_field(
        name="How to ask", value=f"Use {help_command or '`/help`'} to see how.", inline=False
    )
    return embed


def help_embed(mentions: Mapping[str, str]) -> discord.Embed:
    """How to ask, with each command as a clickable mention (``</ask:id>``) when known."""

    def command(name: str) -> str:
        return mentions.get(name) or f"`/{name}`"

    lines = [
        f"{command('ask')} — ask in your own words (up to 300 characters), like "
        "*Which tourism year was launched in Kazakhstan in 2017?* The first quote answers; "
        "the ones below support it. Words of your question are in **bold**. Asking about "
        "one article (“this study”)? Pick it in the `article` option.",
        "Under an answer: **Context** shows the sentences around the quotes, **More** the "
        "next quotes (only you see them), **Read** a whole article, and "
        "**👍 Helpful** / **👎 Not helpful** tell us how it went (you can change your vote).",
        f"{command('source')} — read a whole article: start typing a title, an outlet or a "
        "date and pick one. Only you see it unless you press **Share in channel** "
        "or set `public: True`; **Ask about it** answers a question from it alone.",
        f"{command('about')} — what the corpus holds.",
        "Mistakes and “not found” replies are only shown to you.",
    ]
    return discord.Embed(
        title="How to use corpusbot", description="\n\n".join(lines), colour=COLOUR
    )
