"""The fast tokenizer paths (findall shortcut, stem cache, whole batches of texts at once)
give exactly the reference tokens."""

import re
import unicodedata

import numpy as np
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


# -- the batch scanner in NumPy (text.matches) against the regex -------------------------


def regex_matches(texts: list[str]) -> list[list[str]]:
    """Each text's matches of _TOKEN, found by the regex text by text."""
    return [sorted(_TOKEN.findall(text._fold(t))) for t in texts]


def scanned_matches(texts: list[str]) -> list[list[str]]:
    found = text.matches(texts)
    assert found is not None
    out: list[list[str]] = [[] for _ in texts]
    every = np.arange(len(found.starts))
    for match, at in zip(found.strings(every), found.text.tolist(), strict=True):
        out[at].append(match)
    return [sorted(o) for o in out]


# Digits of other scripts, an astral digit and emoji, a lone surrogate, a combining accent.
NUMBERS = [*"0123456789.,'’ abx_-²٣\u0301", "𝟘", "😀", "\ud800"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(NUMBERS), max_size=30) | st.text(), max_size=6))
def test_the_scanner_finds_the_regex_matches(texts):
    if not texts or any(text.SEPARATOR in t for t in texts):  # counted one by one
        assert text.matches(texts) is None
        return
    assert scanned_matches(texts) == regex_matches(texts)


def test_the_scanner_cases():
    texts = [*CASES, "x1.5.7 1.5abc 1.5'a a'b'c a''b 'a' 12ab.5 a1.5 ,1,2, .5. 1..2", "😀x𝐀b"]
    assert scanned_matches(texts) == regex_matches(texts)


def test_character_classes_are_the_regex_classes():
    word, digit = re.compile(r"[^\W_]"), re.compile(r"\d")
    classes = text._bmp_classes()
    for code in range(0x10000):
        char = chr(code)
        assert bool(classes[code] & text._WORD) == bool(word.match(char)), hex(code)
        assert bool(classes[code] & text._DIGIT) == bool(digit.match(char)), hex(code)


def test_a_hash_collision_is_caught_not_merged(monkeypatch):
    # With base 1 the hash is the sum of the code points: "ab" and "ba" collide.
    monkeypatch.setattr(text, "_HASH_BASE", 1)
    found = text.matches(["ab ba"])
    assert found is not None and found.grouped() is None
    vocabulary = Vocabulary()
    assert batch_tokens(vocabulary, ["ab ba", "ab"]) == [["ab", "ba"], ["ab"]]
    # Across batches: "ab" known, then "ba" arrives with the same key.
    vocabulary = Vocabulary()
    assert batch_tokens(vocabulary, ["ab"]) == [["ab"]]
    assert batch_tokens(vocabulary, ["ba", "x"]) == [["ba"], ["x"]]


def test_a_batch_longer_than_the_kept_hash_tables_is_right_and_not_kept(monkeypatch):
    monkeypatch.setattr(text, "_HASH_TABLES_KEPT", 64)
    monkeypatch.setattr(text, "_hash_tables", (0, np.empty(0), np.empty(0)))
    texts = ["short one", "running dogs " * 20 + "1,000.5 Xi's", "short one again"]
    got = batch_tokens(Vocabulary(), texts)
    assert [sorted(g) for g in got] == [sorted(reference(t)) for t in texts]
    assert len(text._hash_tables[1]) <= 64


def reference_same_chars(codes, starts, other, other_starts, lengths) -> bool:
    return all(
        codes[s : s + n].tolist() == other[o : o + n].tolist()
        for s, o, n in zip(starts.tolist(), other_starts.tolist(), lengths.tolist(), strict=True)
    )


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("abcab é😀")), min_size=1, max_size=80),
    st.lists(st.tuples(st.integers(0, 79), st.integers(0, 79), st.integers(0, 40)), max_size=8),
    st.booleans(),
)
def test_same_chars_compares_8_bytes_at_a_time_as_char_by_char(s, spans, separate):
    # Spans of one text against itself (a batch's matches) or against a copy of another
    # dtype or length (the known matches): every length, offset and byte of a window.
    codes = text._codes(s)
    other = np.concatenate((codes, codes[::-1])).astype(np.uint32) if separate else codes
    spans = [(a % len(codes), b % len(codes), n) for a, b, n in spans]
    spans = [(a, b, min(n, len(codes) - a, len(codes) - b)) for a, b, n in spans]
    starts, other_starts, lengths = np.array(spans, np.int64).reshape(-1, 3).T
    want = reference_same_chars(codes, starts, other, other_starts, lengths)
    assert text.same_chars(codes, starts, other, other_starts, lengths) == want


def test_groups_are_numpy_unique_up_to_the_member_named():
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 50, 1000).astype(np.uint64)
    ours, first, which = text._groups(keys)
    want, _, want_which = np.unique(keys, return_index=True, return_inverse=True)
    assert np.array_equal(ours, want) and np.array_equal(which, want_which.ravel())
    assert np.array_equal(keys[first], ours)
