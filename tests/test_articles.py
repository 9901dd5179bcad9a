import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.articles import (
    _TERMINAL,
    apply_overrides,
    iso_date,
    load_metadata,
    parse_text,
    units,
)
from retrieval.errors import IngestError
from retrieval.formats import body_spans
from retrieval.segment import sentences
from retrieval.stopwords import STOPWORDS

from .conftest import SEEDS

pytestmark = pytest.mark.unit

SEED_FILES = sorted(SEEDS.glob("*.txt"))


def seed(name_prefix: str) -> tuple[str, str]:
    path = next(p for p in SEED_FILES if p.name.startswith(name_prefix))
    return path.name, path.read_text(encoding="utf-8")


def searchable(article) -> list[str]:
    return [article.text[s:e] for s, e in sentences(article.text, article.spans)]


@pytest.mark.parametrize(
    "text, iso",
    [
        ("date 2017-06-07 ", "2017-06-07"),
        ("Updated:2018-04-13 10:00:47", "2018-04-13"),
        ("Updated: 2023-08-24 09:05", "2023-08-24"),
        ("7 June 2017", "2017-06-07"),
        ("June 7, 2017", "2017-06-07"),
        ("Sept 10 2017", "2017-09-10"),
        ("no date here", None),
        ("2017-02-30", None),
    ],
)
def test_iso_date(text, iso):
    assert iso_date(text) == iso


def test_china_daily_byline_outlet_date_and_footer():
    name, text = seed("004")
    a = parse_text(name, text)
    assert a.title == "Expo to deepen Northeast Asia biz ties"
    assert a.outlet == "China Daily"
    assert a.byline == "WANG KEJU in Beijing and LIU MINGTAI in Changchun"
    assert a.date == "2023-08-24"
    body = " ".join(searchable(a))
    for boilerplate in (
        "BACK TO THE TOP",
        "Copyright",
        "Home | Macro",
        "xi's moments",
        "WANG ZHENDONG",
        "Global Edition",
        "Registration Number",
    ):
        assert boilerplate not in body


def test_breadcrumbs_repeated_headlines_and_captions_are_not_searchable():
    name, text = seed("001")
    a = parse_text(name, text)
    assert a.title == "Zhejiang seeks cooperation at Astana Expo"
    body = searchable(a)
    assert not any("Media Center" in s for s in body)
    assert not any(s.startswith("Liang Liming (right)") for s in body)
    assert not any(s.startswith("Guests of the Zhejiang Day") for s in body)
    assert "Chen Zhou, vice chairman of CCPIT, addressed the ceremony." in body


def test_date_line_and_dateline():
    name, text = seed("003")
    a = parse_text(name, text)
    assert a.date == "2018-04-13"
    assert a.title.startswith("2018 Hunan-Yangtze River Delta")
    name, text = seed("000")
    first = searchable(parse_text(name, text))[0]
    assert first.startswith("The province has secured")  # "ASTANA. KAZINFORM - " dropped


def test_metadata_overrides_and_excludes():
    name, text = seed("002")
    meta = load_metadata(SEEDS)[name]
    a = apply_overrides(parse_text(name, text), meta)
    assert a.title == "President Xi’s visit cements China-Kazakhstan ties"
    assert a.outlet == "Alwihda Info" and a.date == "2017-06-07"
    body = searchable(a)
    assert not any("Source: People's Daily" in s for s in body)
    assert any(s.startswith("Chinese President Xi Jinping’s upcoming visit") for s in body)


def test_metadata_file_errors_are_one_line(tmp_path):
    (tmp_path / "metadata.json").write_text("{not json")
    with pytest.raises(IngestError, match="not valid JSON"):
        load_metadata(tmp_path)
    (tmp_path / "metadata.json").write_text(json.dumps({"a.txt": "title"}))
    with pytest.raises(IngestError, match="expected an object"):
        load_metadata(tmp_path)


def test_hard_wrapped_prose_is_joined():
    text = (
        "A headline\n\n"
        "This sentence was wrapped by an editor at a fixed width so that it\n"
        "continues on the next line. A second sentence follows.\n"
    )
    a = parse_text("w.txt", text)
    assert a.title == "A headline"
    assert searchable(a) == [
        "This sentence was wrapped by an editor at a fixed width so that it\n"
        "continues on the next line.",
        "A second sentence follows.",
    ]


def test_prose_wrapped_at_a_narrow_width_is_joined():
    # Text taken from a PDF's columns: lines of ~50 characters, each too short for the
    # long-line rule; a line that goes on in lower case continues the one before.
    text = (
        "The pandemic of 1918\n\n"
        "An estimated one third of the population were\n"
        "infected and had clinically apparent illnesses.\n"
        "Case-fatality rates were high.\n"
        "Total deaths were estimated at\n"
        "fifty million.\n"
        "Most of the deaths were among the\n"
        "Young adults of every country.\n"
    )
    a = parse_text("pdf.txt", text)
    assert a.title == "The pandemic of 1918"
    assert searchable(a) == [
        "An estimated one third of the population were\n"
        "infected and had clinically apparent illnesses.",
        "Case-fatality rates were high.",
        "Total deaths were estimated at\nfifty million.",
        "Most of the deaths were among the\nYoung adults of every country.",
    ]


def test_a_copyright_line_ends_the_text_only_when_little_follows():
    article = "\n".join(
        f"Paragraph {i} of the paper reports one more finding of the study." for i in range(40)
    )
    text = f"A study\n\n© 2020 Published by a publisher.\n\n{article}\n"
    body = searchable(parse_text("paper.txt", text))
    assert "Paragraph 39 of the paper reports one more finding of the study." in body
    assert not any("Published by" in s for s in body)  # the notice itself is not searchable
    short = "A study\n\nThe study found a link.\n\n© 2020 The publisher.\nAll our sites.\n"
    assert searchable(parse_text("page.txt", short)) == ["The study found a link."]


def test_a_long_paragraph_with_greater_than_signs_is_no_breadcrumb():
    line = (
        "Display on pVI works for proteins of >25 kDa, and display on pVII works for "
        "proteins of >25 kDa as well, at fewer than one copy per particle in both cases."
    )
    text = f"Phage display\n\nHome > News > Science\n\n{line}\n"
    assert searchable(parse_text("p.txt", text)) == [line]


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name[:3])
def test_every_sentence_is_an_exact_substring(path):
    text = path.read_text(encoding="utf-8")
    a = apply_overrides(parse_text(path.name, text), load_metadata(SEEDS).get(path.name, {}))
    spans = list(sentences(a.text, a.spans))
    assert spans
    for start, end in spans:
        piece = text[start:end]
        assert piece == piece.strip() and piece
    assert spans == sorted(spans)


def units_as_first_written(text: str) -> list[tuple[int, int]]:
    """articles.units before its one-pass rewrite (the reference for it), with the rule
    for narrow wraps added since: a line with no final punctuation is joined to the next
    when that goes on in lower case or the line ends with a lower-case stopword."""
    lines = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        stripped = body.strip()
        if stripped:
            start = pos + (len(body) - len(body.lstrip()))
            lines.append((start, start + len(stripped)))
        else:
            lines.append((-1, -1))
        pos += len(raw)
    found: list[tuple[int, int]] = []
    previous = ""
    for start, end in lines:
        if start < 0:
            previous = ""
            continue
        line = text[start:end]
        open_line = previous and not previous.endswith(_TERMINAL)
        last = previous.split()[-1] if previous else ""
        function_word = last.islower() and last in STOPWORDS
        if found and open_line and (len(previous) >= 60 or line[0].islower() or function_word):
            found[-1] = (found[-1][0], end)
        else:
            found.append((start, end))
        previous = line
    return found


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(list("ab .!\t\r\n\x0b\x1c\x85\u2028 ")), max_size=90),
        max_size=8,
    ).map("".join)
    | st.text()
)
def test_units_as_first_written(text):
    assert units(text) == units_as_first_written(text)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab .\n\r\t")), max_size=120),
    st.none() | st.text(alphabet=st.sampled_from(list("ab .")), max_size=6),
)
def test_body_spans_skip_every_unit_equal_to_the_headline(text, skip):
    want = tuple((s, e) for s, e in units(text) if text[s:e] != skip)
    assert body_spans(text, skip) == want
