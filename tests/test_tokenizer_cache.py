"""The fast tokenizer paths (findall shortcut, stem cache) give exactly the reference tokens."""

import re
import unicodedata

import Stemmer
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import text

_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:'[^\W_]+)*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
_STEMMER = Stemmer.Stemmer("english")


def reference(s: str) -> list[str]:
    """The tokenizer as first written: a loop over every match, PyStemmer per call."""
    s = unicodedata.normalize("NFKC", s).translate(text._APOSTROPHES).casefold()
    out = []
    for match in _TOKEN.finditer(s):
        word = match.group()
        if word[0].isdigit():
            word = _THOUSANDS.sub("", word)
        elif word.endswith("'s"):
            word = word[:-2]
        out.append(word)
    kept = [w for w in out if w not in text.STOPWORDS]
    return _STEMMER.stemWords(kept) if kept else []


CASES = [
    "President Xi's visit cost $125.23 million, up from 1,000 in the 1990's.",
    "Numbers: 1,000,000 and 12,34 and 3.14; ’quotes’ `ticks` ʼmod’s",
    "ＦＵＬＬＷＩＤＴＨ ﬁnance ² ½ Straße STRASSE İstanbul",
    "running runs ran runner's generously generation generations",
    "",
]


def test_known_cases():
    for case in CASES:
        assert text.tokenize(case) == reference(case)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1,.'’s sXi0é²ﬁ-_")), max_size=60) | st.text())
def test_same_tokens_as_the_reference(s):
    assert text.tokenize(s) == reference(s)


def test_stem_cache_is_bounded_and_still_right(monkeypatch):
    monkeypatch.setattr(text, "_STEMS_MAX", 5)
    words = [f"running{i} walked{i}" for i in range(20)]
    for w in words:
        assert text.tokenize(w) == reference(w)
    assert len(text._STEMS) <= 5 + 2
