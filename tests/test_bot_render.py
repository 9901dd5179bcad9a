"""Rendering and configuration: Discord's limits, inert text, clean shortening, settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import render
from bot.config import Config, ConfigError, load_config
from retrieval.models import Answer, Article, Hit, Sentence, Status
from retrieval.text import tokenize
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

ARTICLE = Article(id=7, file="x.txt", title="T" * 400, outlet="O" * 300, date="2017-06-07")


def answer_with(texts: list[str], *, articles: list[Article] | None = None) -> Answer:
    articles = articles or [ARTICLE] * len(texts)
    hits = tuple(
        Hit(
            rank=i + 1,
            score=1.0,
            article=a,
            sentence=Sentence(id=i + 1, article_id=a.id, position=i, text=t, start=0, end=len(t)),
        )
        for i, (t, a) in enumerate(zip(texts, articles, strict=True))
    )
    return Answer(
        question="q " * 200, status=Status.ANSWERED, hits=hits, terms=("q",), has_more=True
    )


def within_limits(embed) -> None:
    assert len(embed.title or "") <= render.TITLE_LIMIT
    assert len(embed.description or "") <= render.DESCRIPTION_LIMIT
    for field in embed.fields:
        assert len(field.name) <= render.FIELD_NAME_LIMIT
        assert len(field.value) <= render.FIELD_VALUE_LIMIT
    assert len(embed.footer.text or "") <= render.FOOTER_LIMIT
    assert len(embed) <= render.EMBED_TOTAL_LIMIT


def test_huge_answer_fits_every_limit() -> None:
    huge = "*_`|~ @everyone " * 2000
    embed = render.answer_embed(answer_with([huge, huge, huge]))
    within_limits(embed)
    shown = embed.description + "\n" + embed.fields[0].value
    assert "@everyone" not in shown
    quotes = [line for line in shown.split("\n") if line.startswith("> ")]
    assert len(quotes) == 3 and all(q.endswith("…") for q in quotes)  # shortened, none dropped


def test_quotes_are_grouped_under_each_source_once() -> None:
    other = Article(id=8, file="y.txt", title="Other")
    embed = render.answer_embed(answer_with(["a.", "b.", "c."], articles=[ARTICLE, other, ARTICLE]))
    assert embed.description.startswith("> a.\n— **[1]** ")
    (support,) = embed.fields
    # c. is grouped with its article [1], b. under [2]: each source line once.
    blocks = support.value.split("\n\n")
    assert [b.split("\n")[0] for b in blocks] == ["> b.", "> c."]
    assert blocks[0].endswith("— **[2]** Other") and "**[1]**" in blocks[1]


def test_one_source_has_no_numbers_and_no_added_quotation_marks() -> None:
    quote = '"In order to tell Jiangxi\'s story," said Ding Yue.'
    embed = render.answer_embed(answer_with([quote, "Second."]))
    assert "[1]" not in embed.description + embed.fields[0].value
    assert embed.description.startswith('> "In order to tell') and "“" not in embed.description


def test_the_question_words_are_bold_in_the_quote() -> None:
    shown = render.highlight(
        "The Tourism Year launched in Kazakhstan in 2017.", tokenize("tourism year 2017"), 500
    )
    assert shown == "The **Tourism Year** launched in Kazakhstan in **2017**."
    # Inert first, bold after: markdown inside the quote stays literal.
    assert render.highlight("**tourism** @everyone", tokenize("tourism"), 500) == (
        "\\*\\***tourism**\\*\\* @\u200beveryone"
    )
    # Shortened between words, never inside a bold span or an escape.
    long = render.highlight("tourism word " * 100, tokenize("tourism"), 101)
    assert len(long) <= 101 and long.endswith("…") and long.count("**") % 2 == 0


def test_citation_numbers_carry_over_pages() -> None:
    other = Article(id=8, file="y.txt", title="Other")
    page = answer_with(["x.", "y."], articles=[other, ARTICLE])
    embed = render.answer_embed(page, {ARTICLE.id: 1})  # ARTICLE was [1] on the page before
    assert "— **[2]** Other" in embed.description
    assert "— **[1]** " in embed.fields[0].value


def test_attachment_names_are_cut_between_words() -> None:
    article = Article(
        id=1, file="f", title="Jiangxi showcases clean energy and culture at Expo Astana 2017"
    )
    assert render.article_filename(article) == (
        "1-jiangxi-showcases-clean-energy-and-culture-at-expo-astana.txt"
    )
    assert render.article_filename(Article(id=2, file="f", title="🙂")) == "2-article.txt"
    assert render.article_filename(Article(id=3, file="f", title="x" * 90)) == f"3-{'x' * 60}.txt"


def test_a_single_page_says_no_page_number() -> None:
    (page,) = render.article_pages(ARTICLE, "Short text.")
    assert "Page" not in (page.footer.text or "")
    assert len(render.article_pages(ARTICLE, "word " * 2000)) > 1


def test_article_pages_fit_and_keep_every_word() -> None:
    text = "\n\n".join(f"Paragraph {i} " + "word " * 300 for i in range(40)) + " " + "x" * 9000
    pages = render.article_pages(ARTICLE, text)
    assert len(pages) > 1
    for page in pages:
        within_limits(page)
    # Nothing lost or added but whitespace (the 9,000-character "word" is cut hard).
    joined = "".join(p.description for p in pages)
    assert "".join(joined.split()) == "".join(text.split())


@pytest.mark.parametrize(
    "text",
    ["e\u0301" * 200, "👩\u200d👩\u200d👧" * 100, "a\\" * 300, "word " * 100, "\U0001f600" * 300],
)
def test_shorten_never_cuts_inside_a_character(text: str) -> None:
    short = render.shorten(text, 101)
    assert len(short) <= 101 and short.endswith("…")
    body = short[:-1]
    assert text.startswith(body)
    nxt = text[len(body)] if len(body) < len(text) else ""
    assert nxt not in ("\u0301", "\u200d")  # no combining mark or joiner left behind
    assert not body.endswith("\u200d")
    assert (len(body) - len(body.rstrip("\\"))) % 2 == 0  # no half escape


@given(st.text(max_size=3000), st.integers(min_value=1, max_value=2000))
def test_safe_short_always_fits(text: str, limit: int) -> None:
    assert len(render.safe_short(text, limit)) <= limit


def test_choice_names_fit_autocomplete() -> None:
    assert len(render.choice_name(ARTICLE)) <= 100
    assert render.choice_name(Article(id=3, file="f", title="")).startswith(("—", "Article"))


def test_not_found_shows_the_question_not_stems() -> None:
    answer = Answer(
        question="zebras?",
        status=Status.NOT_FOUND,
        terms=("zebra",),
        message="No sentence contains the searched terms.",
    )
    embed = render.answer_embed(answer)
    assert embed.title == "Not found in the corpus"
    assert "zebras?" in embed.description and "/source" in embed.description
    assert "Searched for" not in embed.description


def test_config_reads_and_hides_the_token(tmp_path: Path) -> None:
    cfg = load_config(
        {
            "DISCORD_TOKEN": "s3cret",
            "DISCORD_GUILD_ID": "42",
            "DISCORD_API_BASE": "http://127.0.0.1:9/",
            "CORPUSBOT_DB": "x.db",
        }
    )
    assert cfg == Config(
        token="s3cret", guild_id=42, db_path=Path("x.db"), api_base="http://127.0.0.1:9/api/v10"
    )
    assert "s3cret" not in repr(cfg)
    # The default is the project's data/corpus.db, not one in the working folder.
    assert load_config({"DISCORD_TOKEN": "t"}).db_path == ROOT / "data" / "corpus.db"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "DISCORD_TOKEN is not set"),
        ({"DISCORD_TOKEN": "t", "DISCORD_GUILD_ID": "abc"}, "DISCORD_GUILD_ID"),
        ({"DISCORD_TOKEN": "t", "DISCORD_GATEWAY_URL": "http://x"}, "DISCORD_GATEWAY_URL"),
    ],
)
def test_config_errors_are_one_line(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(env)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_more_past_the_end_says_so() -> None:
    answer = Answer(question="q", status=Status.NOT_FOUND, offset=3, message="No more results.")
    assert render.answer_embed(answer).title == "No more results"


def test_the_ask_limit_is_shared_and_forgets_people_whose_allowance_is_whole() -> None:
    from types import SimpleNamespace

    from discord import app_commands

    from bot.interactions import AskLimit

    limit = AskLimit(3, 30.0)

    def person(user_id: int) -> SimpleNamespace:
        return SimpleNamespace(user=SimpleNamespace(id=user_id))

    for _ in range(3):
        assert limit.check(person(1))
    with pytest.raises(app_commands.CommandOnCooldown):
        limit.check(person(1))
    limit._buckets |= {u: app_commands.Cooldown(3, 30.0) for u in range(2, 10_002)}
    limit.check(person(5))  # past 10,000 people, those with nothing used are forgotten
    assert set(limit._buckets) == {1, 5}


def test_an_answer_within_one_article_says_so_and_fits() -> None:
    from dataclasses import replace

    answer = replace(answer_with(["a quote"]), within=ARTICLE, offset=3)
    embed = render.answer_embed(answer)
    within_limits(embed)
    assert embed.footer.text.startswith("Quotes 4–4 · Only in: TTT")
    assert len(embed.footer.text) <= render.FOOTER_LIMIT
    missing = render.not_found_embed(
        Answer("q", Status.NOT_FOUND, message="No sentence in this article…", within=ARTICLE)
    )
    assert missing.title == "Not found in this article"
    assert "**Searched only:**" in missing.description


def test_a_question_about_an_unnamed_article_gets_the_tip() -> None:
    from dataclasses import replace

    plain = render.answer_embed(answer_with(["a quote"]))
    assert plain.footer.text is None
    tipped = render.answer_embed(replace(answer_with(["a quote"]), unnamed_article=True))
    assert tipped.footer.text == render.UNNAMED_ARTICLE_TIP
    missing = render.not_found_embed(Answer("q", Status.NOT_FOUND, unnamed_article=True))
    assert render.UNNAMED_ARTICLE_TIP in missing.description
    hint = render.ask_within_message("@everyone [x](http://e.vil)", several=False)
    assert hint.startswith("No article matches") and "@everyone" not in hint
    assert "http://" not in hint and len(hint) <= render.CONTENT_LIMIT


def test_a_misspelt_question_says_what_was_read() -> None:
    from dataclasses import replace

    read = (("exppo", "expo"), ("contries", "countries"))
    shown = render.answer_embed(replace(answer_with(["a quote"]), read_as=read))
    assert shown.footer.text == "Read “exppo” as “expo”, “contries” as “countries”."
    missing = render.not_found_embed(Answer("exppo", Status.NOT_FOUND, read_as=read[:1]))
    assert "Read “exppo” as “expo”." in missing.description
    assert render.not_found_embed(Answer("q", Status.NOT_FOUND)).description.count("Read") == 0
