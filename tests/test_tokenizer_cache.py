"""The fast tokenizer paths (findall shortcut, stem cache, whole batches of texts at once)
give exactly the reference tokens."""

import re
import unicodedata

import Stemmer
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import text
from retrieval.vocabulary import Vocabulary

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


# -- many texts at once (ingest) ----------------------------------------------------------


def batch_tokens(vocabulary: Vocabulary, texts: list[str]) -> list[list[str]]:
    """Each text's terms as the vocabulary counted them (order within a text is lost)."""
    chunk = vocabulary.count(texts)
    names = {i: t for t, i in vocabulary.terms.items()}
    out: list[list[str]] = [[] for _ in texts]
    for sent, term, tf in zip(chunk.post_sents, chunk.post_terms, chunk.post_tfs, strict=True):
        out[sent] += [names[int(term)]] * int(tf)
    assert chunk.lengths.tolist() == [len(tokens) for tokens in out]
    return out


texts_strategy = st.lists(
    st.text(alphabet=st.sampled_from(list("ab1,.'’s sXi0é²ﬁ-_\u0301\x00\u1100\u1161")), max_size=40)
    | st.text(max_size=40),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(texts_strategy, texts_strategy)
def test_a_batch_gives_each_text_its_own_tokens(first, second):
    vocabulary = Vocabulary()  # two batches: the second one reuses what the first learnt
    for texts in (first, second):
        got = batch_tokens(vocabulary, texts)
        assert [sorted(g) for g in got] == [sorted(reference(t)) for t in texts]


def test_batch_cases_and_the_separator_inside_a_text():
    vocabulary = Vocabulary()
    texts = [*CASES, "a\x00running dog", "Xi's 1,000 dogs"]
    got = batch_tokens(vocabulary, texts)
    assert [sorted(g) for g in got] == [sorted(reference(t)) for t in texts]


def test_forgotten_words_keep_their_term_ids(monkeypatch):
    vocabulary = Vocabulary()
    monkeypatch.setattr(Vocabulary, "WORDS_MAX", 4)
    first = batch_tokens(vocabulary, ["running dogs", "walked cats"])
    ids = dict(vocabulary.terms)
    again = batch_tokens(vocabulary, ["Running cats", "many more words here now"])
    assert first == [["run", "dog"], ["walk", "cat"]]
    assert sorted(again[0]) == ["cat", "run"]
    assert all(vocabulary.terms[t] == i for t, i in ids.items())
