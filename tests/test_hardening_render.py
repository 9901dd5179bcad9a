"""Hostile text made inert: questions and corpus text never ping, format or link in Discord.

``inert_problems`` reads rendered text the way Discord's markdown does (a backslash before
ASCII punctuation escapes it) and lists anything that would still act: an unescaped
markdown character, a block marker at a line start, a mention or ``<…>`` token, an
``@everyone``/``@here``, or a ``scheme://`` that Discord would turn into a link.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import render
from retrieval.corpus import Corpus
from retrieval.models import Answer, Article, Hit, Sentence, Status
from tests.conftest import SEEDS

pytestmark = pytest.mark.hostile

# Every code point, lone surrogates and controls included.
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=600)
# Text dense in what Discord reacts to, so hypothesis hits the interesting cases often.
PIECES = [
    *"*_~|`[]()<>#-+@:/\\!&.\n \t1a",
    *("@everyone", "@here", "<@123>", "<@&5>", "<#9>", "</ask:1>", "<t:0:R>", "<:e:1>"),
    *("http://x.y", "https://", "steam://", "```", "||", "[x](http://e.v)", "1. ", "-# "),
    *("\u200b", "\u200d", "\u0301", "\ud800", "\x00", "é", "👩\u200d👧"),
]
MARKUP = st.lists(st.sampled_from(PIECES), max_size=80).map("".join)
HOSTILE_TEXT = st.one_of(ANY_TEXT, MARKUP)

SPECIAL = set("*_~|`[")
ESCAPABLE = re.compile(r"[!-/:-@\[-`{-~]")  # ASCII punctuation: what a backslash can escape


def inert_problems(text: str) -> list[str]:
    """Everything in ``text`` that Discord would still render as markdown, a ping or a link."""
    problems = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and ESCAPABLE.match(text[i + 1]):
            i += 2  # an escape: the next character is literal
            continue
        if c in SPECIAL:
            problems.append(f"unescaped {c!r} at {i}")
        i += 1
    for line in text.split("\n"):
        if re.match(r"[ \t]*([#>+-]|\d+[.)])", line):
            problems.append(f"block marker at a line start: {line[:20]!r}")
    if m := re.search(r"<(?!\u200b)", text):
        problems.append(f"a <token at {m.start()}")
    if m := re.search(r"@(everyone|here)", text, re.IGNORECASE):
        problems.append(f"{m.group()} at {m.start()}")
    if m := re.search(r"://", text):
        problems.append(f"a link scheme at {m.start()}")
    if m := re.search(r"[\ud800-\udfff]", text):
        problems.append(f"an unsendable surrogate at {m.start()}")
    return problems


def assert_inert(text: str) -> None:
    assert not inert_problems(text), (inert_problems(text), text)


def within_limits(embed) -> None:
    assert len(embed.title or "") <= render.TITLE_LIMIT
    assert len(embed.description or "") <= render.DESCRIPTION_LIMIT
    assert len(embed.fields) <= 25
    for field in embed.fields:
        assert 1 <= len(field.name) <= render.FIELD_NAME_LIMIT
        assert 1 <= len(field.value) <= render.FIELD_VALUE_LIMIT
    assert len(embed.footer.text or "") <= render.FOOTER_LIMIT
    assert len(embed) <= render.EMBED_TOTAL_LIMIT


# The exact hostile strings of issue 6, each checked on its own.
ISSUE_INPUTS = [
    "@everyone",
    "@here",
    "<@123>",
    "<@123456789012345678>",
    "<@!123456789012345678>",
    "<@&role>",
    "<@&987654321098765432>",
    "<#123456789012345678>",
    "```py\nprint(1)\n```",
    "||spoiler||",
    "[x](http://evil.example)",
    "[x](<http://evil.example>)",
    "http://evil.example/a_b_c",
    "see https://evil.example/free-nitro now",
    "<https://evil.example>",
    "steam://run/1",
    "**bold** __under__ ~~strike~~ *it*",
    "# heading",
    "-# subtext",
    "> quote\n>>> block quote",
    "- item\n+ item\n1. item\n2) item",
    "\\*already escaped\\*",
    "</ask:123456789012345678> <t:0:R> <:emoji:123456789012345678> <id:customize>",
    "bad \ud800 surrogate \x00 control\x07",
]


@pytest.mark.parametrize("text", ISSUE_INPUTS)
def test_issue_inputs_render_inert(text: str) -> None:
    shown = render.safe(text)
    assert_inert(shown)
    # Nothing is hidden: with escapes and zero-width spaces removed, the words are all there.
    visible = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", shown).replace(render.ZWSP, "")
    clean = re.sub(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]", "\ufffd", text)
    assert visible == clean


@settings(max_examples=300, deadline=None)
@given(text=HOSTILE_TEXT, limit=st.integers(min_value=1, max_value=4096))
def test_safe_short_is_inert_and_fits(text: str, limit: int) -> None:
    shown = render.safe_short(text, limit)
    assert len(shown) <= limit
    assert_inert(shown)


def _answer(question: str, texts: list[str], titles: list[str]) -> Answer:
    articles = [
        Article(id=i + 1, file=f"{i}.txt", title=t, outlet=t[::-1], date="2017-06-07")
        for i, t in enumerate(titles)
    ]
    hits = tuple(
        Hit(
            rank=i + 1,
            score=1.0,
            article=articles[i % len(articles)],
            sentence=Sentence(
                id=i + 1,
                article_id=articles[i % len(articles)].id,
                position=i,
                text=t,
                start=0,
                end=len(t),
            ),
        )
        for i, t in enumerate(texts)
    )
    return Answer(question=question, status=Status.ANSWERED, hits=hits, terms=("x",), has_more=True)


def _quote_and_source_inert(block: str) -> None:
    """One group of the answer: ``> quote`` lines, then ``— [**[n]** ]source``."""
    *quotes, source = block.split("\n")
    assert quotes, block
    for line in quotes:
        assert line.startswith("> "), line
        # Take out the bold marks the renderer puts around the question's words (they are
        # never escaped); what is left came from the corpus and must be inert.
        marks = re.findall(r"(?<!\\)\*\*", line[2:])
        assert len(marks) % 2 == 0, line
        assert_inert(re.sub(r"(?<!\\)\*\*", "", line[2:]))
    m = re.fullmatch(r"— (?:\*\*\[\d+\]\*\* )?(.*)", source)
    assert m, source
    assert_inert(m.group(1))


def _assert_answer_embed_inert(embed) -> None:
    within_limits(embed)
    assert_inert(embed.title)
    _quote_and_source_inert(embed.description)
    for field in embed.fields:
        assert field.name == "Supporting quotes"
        for block in field.value.split("\n\n"):
            _quote_and_source_inert(block)


@settings(max_examples=150, deadline=None)
@given(
    question=HOSTILE_TEXT,
    texts=st.lists(HOSTILE_TEXT.filter(str.strip), min_size=1, max_size=3),
    titles=st.lists(HOSTILE_TEXT, min_size=1, max_size=3),
)
def test_answer_embed_is_inert_and_within_limits(question, texts, titles) -> None:
    _assert_answer_embed_inert(render.answer_embed(_answer(question, texts, titles)))


@settings(max_examples=100, deadline=None)
@given(text=st.one_of(ANY_TEXT, MARKUP, MARKUP.map(lambda t: t * 60)), title=HOSTILE_TEXT)
def test_article_pages_are_inert_and_within_limits(text: str, title: str) -> None:
    article = Article(
        id=3, file="a.txt", title=title, outlet=title, date=title, url="http://ok.example/" + title
    )
    for page in render.article_pages(article, text):
        within_limits(page)
        assert_inert(page.title)
        assert_inert(page.description)
        assert not inert_problems((page.footer.text or "").split(" · ", 1)[-1])


@settings(max_examples=100, deadline=None)
@given(question=HOSTILE_TEXT, not_found=st.booleans(), message=HOSTILE_TEXT)
def test_not_found_and_candidates_are_inert(question: str, not_found: bool, message: str) -> None:
    status = Status.NOT_FOUND if not_found else Status.INVALID
    embed = render.answer_embed(
        Answer(question=question, status=status, terms=(message[:20],), message=message)
    )
    within_limits(embed)
    # Take out the template's own markdown; what is left came from the user or the corpus.
    shown = re.sub(r"\*\*Your question:\*\* ", "", embed.description)
    shown = shown.replace(
        "Try other words (names, places, years), or browse the articles with `/source`.", ""
    )
    assert_inert(shown)
    nothing = render.no_article_message(question)
    assert len(nothing) <= 2000  # Discord: message content
    assert not re.search(r"<(?!\u200b)|@(everyone|here)|://", nothing, re.IGNORECASE)
    # Menu options are plain text in Discord (no markdown): they only need to fit.
    article = Article(id=1, file="f", title=message, outlet=question)
    assert 1 <= len(render.option_label(article)) <= 100
    assert len(render.option_description(article) or "") <= 100


def test_article_url_links_the_title_only_when_sane() -> None:
    ok = Article(id=1, file="f", title="t", url="https://news.example/a")
    assert render.article_pages(ok, "x")[0].url == "https://news.example/a"
    for bad in ("javascript:alert(1)", "https://x.example/" + "a" * 3000, "http://a b", None):
        assert render.article_pages(Article(id=1, file="f", title="t", url=bad), "x")[0].url is None


# ---------------------------------------------------------------------------- a hostile corpus

HOSTILE_ARTICLE = """\
Zanzibar harbour notice @everyone <@123456789012345678> **ping** [click](http://evil.example/x)

The Zanzibar harbour authority said @everyone and @here must read <@123456789012345678>, \
<@&987654321098765432> and <#123456789012345678> at once.

Zanzibar officials shared ||a spoiler|| and ```a code fence``` with **bold**, __underline__ \
and ~~strike~~ in one sentence.

A masked link [official notice](http://evil.example/phish) and a bare address \
https://evil.example/free-nitro appeared in the Zanzibar statement.

# Zanzibar heading line
> Zanzibar quoted line
- Zanzibar list item
1. Zanzibar numbered item
"""

HOSTILE_QUESTIONS = [
    "What did the Zanzibar harbour notice say?",
    "Zanzibar spoiler code fence",
    "Zanzibar masked link statement",
]


@pytest.fixture(scope="module")
def hostile_corpus(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("hostile-src")
    (folder / "zanzibar.txt").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    corpus = Corpus.create(tmp_path_factory.mktemp("hostile-db") / "corpus.db")
    corpus.ingest([SEEDS, folder])
    yield corpus
    corpus.close()


def write_hostile_article(folder: Path) -> Path:
    path = folder / "zanzibar.txt"
    path.write_text(HOSTILE_ARTICLE, encoding="utf-8")
    return path


@pytest.mark.parametrize("question", HOSTILE_QUESTIONS)
def test_hostile_corpus_text_is_quoted_exactly_and_shown_inert(hostile_corpus, question) -> None:
    answer = hostile_corpus.ask(question)
    assert answer.answered, answer
    for hit in answer.hits:  # the quote is the article's own text, unchanged
        text = hostile_corpus.article_text(hit.article.id)
        assert text[hit.sentence.start : hit.sentence.end] == hit.sentence.text
    _assert_answer_embed_inert(render.answer_embed(answer))
    ids = [h.sentence.id for h in answer.hits]
    passages = hostile_corpus.contexts(ids)
    articles = {h.article.id: h.article for h in answer.hits}
    context = render.context_embed(passages, ids, articles)
    within_limits(context)
    assert not re.search(r"<(?!\u200b)|@(everyone|here)|://", context.description)


def test_hostile_article_pages_are_inert(hostile_corpus) -> None:
    (article,) = [a for a in hostile_corpus.articles() if a.file == "zanzibar.txt"]
    pages = render.article_pages(article, hostile_corpus.article_text(article.id))
    for page in pages:
        within_limits(page)
        assert_inert(page.title)
        assert_inert(page.description)
    shown = "".join(p.description for p in pages)
    assert r"\|\|a spoiler\|\|" in shown and r"\`\`\`a code fence\`\`\`" in shown
    assert "http:\u200b//evil.example/phish" in shown and "@\u200beveryone" in shown
