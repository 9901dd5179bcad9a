import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.text import STOPWORDS, tokenize, words

pytestmark = pytest.mark.unit


def test_lowercases_stems_and_drops_stopwords():
    assert tokenize("The Organizers ARE organizing exhibitions") == [
        "organiz",
        "organiz",
        "exhibit",
    ]


def test_numbers_and_years_are_terms():
    assert tokenize("$125.23 million in 2017, 1,000 exhibitors") == [
        "125.23",
        "million",
        "2017",
        "1000",
        "exhibitor",
    ]


def test_possessives_and_curly_apostrophes_match():
    assert tokenize("Xi’s visit") == tokenize("Xi's visit") == tokenize("Xi visit")


def test_unicode_is_folded_not_dropped():
    assert words("ＡＳＴＡＮＡ Straße Қазақстан") == ["astana", "strasse", "қазақстан"]


def test_only_stopwords_gives_no_terms():
    assert tokenize("what is the of and to") == []


def test_hyphenated_words_split():
    assert tokenize("China-Kazakhstan") == ["china", "kazakhstan"]


@given(st.text())
def test_any_text_tokenizes_to_nonempty_non_stopword_terms(text):
    for term in tokenize(text):
        assert term and term not in STOPWORDS and term == term.strip()


def test_content_words_news_questions_need_are_not_stopwords():
    assert tokenize("Who won the election?") == ["won", "elect"]
    assert tokenize("They voted against further talks on its own") == [
        "vote",
        "against",
        "further",
        "talk",
        "own",
    ]
    assert tokenize("a tax haven") == ["tax", "haven"]


def test_the_stopword_list_is_data_of_this_project():
    # No third-party package supplies it: importing the tokenizer loads no bm25s.
    code = "import sys, retrieval.text; print('bm25s' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_word_hyphenated_at_a_line_break_is_one_word():
    # Text taken from a PDF or a printed page: "fre-\nquency" is the word "frequency".
    assert tokenize("the much higher fre-\nquency of severe cases") == tokenize(
        "the much higher frequency of severe cases"
    )
    assert tokenize("lin- \r\n  eages") == tokenize("lineages")
    assert tokenize("immu\u00adnity") == tokenize("immunity")  # a soft hyphen


def test_a_number_or_a_dash_at_a_line_break_is_not_joined():
    assert tokenize("COVID-\n19") == ["covid", "19"]
    assert tokenize("cases -\nand deaths") == ["case", "death"]
    assert tokenize("China-Kazakhstan\nties") == ["china", "kazakhstan", "tie"]
