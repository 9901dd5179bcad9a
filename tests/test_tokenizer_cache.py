"""The fast tokenizer paths (findall shortcut, stem cache, whole batches of texts at once)
give exactly the reference tokens."""

import re
import unicodedata

import numpy as np
import pytest
import Stemmer
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import text
from retrieval.vocabulary import Vocabulary

pytestmark = pytest.mark.unit

_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:'[^\W_]+)*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
_STEMMER = Stemmer.Stemmer("english")
# A word hyphenated at a line break, or holding a soft hyphen, is one word.
_BROKEN = re.compile(r"(?<=[^\W\d_])-[ \t]*\r?\n[ \t]*(?=[^\W\d_])|\u00ad")


def folded(s: str) -> str:
    """The folding as first written."""
    s = _BROKEN.sub("", unicodedata.normalize("NFKC", s))
    return s.translate(text._APOSTROPHES).casefold()


def reference(s: str) -> list[str]:
    """The tokenizer as first written: a loop over every match, PyStemmer per call."""
    s = folded(s)
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
    "fre-\nquency lin- \r\n  eages COVID-\n19 well -\nknown a-\n-b immu\u00adnity",
    "",
]


def test_known_cases():
    for case in CASES:
        assert text.tokenize(case) == reference(case)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab1,.'’s sXi0é²ﬁ-_\n\r\t\u00ad")), max_size=60)
    | st.text()
)
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


def sorted_tokens(vocabulary: Vocabulary, texts: list[str]) -> list[list[str]]:
    return [sorted(tokens) for tokens in batch_tokens(vocabulary, texts)]


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
    assert [sorted(f) for f in first] == [["dog", "run"], ["cat", "walk"]]
    assert sorted(again[0]) == ["cat", "run"]
    assert all(vocabulary.terms[t] == i for t, i in ids.items())


# -- the batch scanner in NumPy (text.matches) against the regex -------------------------


def regex_matches(texts: list[str]) -> list[list[str]]:
    """Each text's matches of _TOKEN, found by the regex text by text."""
    return [sorted(_TOKEN.findall(text._fold(t))) for t in texts]


def scanned_matches(texts: list[str]) -> list[list[str]]:
    found = text.matches(texts)
    assert found is not None
    assert (np.diff(found.starts) > 0).all()  # in order (each text's matches counted so)
    out: list[list[str]] = [[] for _ in texts]
    every = np.arange(len(found.starts))
    for match, at in zip(found.strings(every), found.text.tolist(), strict=True):
        out[at].append(match)
    return [sorted(o) for o in out]


# Digits of other scripts, an astral digit and emoji, a lone surrogate, a combining accent.
NUMBERS = [*"0123456789.,'’ abx_-²٣\u0301\n\u00ad", "𝟘", "😀", "\ud800"]


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


# Tokens longer than 16 bytes, the same chunks in another order: with base 1 the hash of
# the chunks after the first is their sum, so these share their keys.
COLLIDING = ("a" * 8 + "b" * 8 + "c" * 8, "a" * 8 + "c" * 8 + "b" * 8)


def test_a_hash_collision_is_caught_not_merged(monkeypatch):
    monkeypatch.setattr(text, "_HASH_BASE", 1)
    one, other = COLLIDING
    found = text.matches([f"{one} {other}"])
    assert found is not None
    first, second = found.keys()
    assert first[0] == first[1] and second[0] == second[1]
    assert Vocabulary()._match_ids(found) is None  # in one batch: counted one by one
    vocabulary = Vocabulary()
    assert sorted_tokens(vocabulary, [f"{one} {other}", one]) == [sorted([one, other]), [one]]
    # Across batches: one is known, then the other arrives with the same keys.
    vocabulary = Vocabulary()
    assert sorted_tokens(vocabulary, [one]) == [[one]]
    assert vocabulary._match_ids(text.matches([other, "x"])) is None
    assert sorted_tokens(vocabulary, [other, "x"]) == [[other], ["x"]]


def test_a_collision_of_the_table_hash_is_caught_or_probed_past(monkeypatch):
    # With no weight on the second key, "abcdefgh" + anything share the table's hash:
    # new in one batch, they are counted one by one; known, the probe goes past them.
    from retrieval import vocabulary as vocabulary_module

    monkeypatch.setattr(vocabulary_module, "_MIX_SECOND", np.uint64(0))
    words = ["abcdefghij", "abcdefghkl", "abcdefghmn"]
    vocabulary = Vocabulary()
    assert vocabulary._match_ids(text.matches([" ".join(words)])) is None
    for word in words:
        assert sorted_tokens(vocabulary, [word]) == [reference(word)]
    assert sorted_tokens(vocabulary, [" ".join(words)]) == [sorted(reference(" ".join(words)))]


def test_every_word_shares_one_slot_and_is_still_found(monkeypatch):
    # All keys hashed to slot 0: each probe walks the whole run of filled slots.
    from retrieval import vocabulary as vocabulary_module

    monkeypatch.setattr(
        vocabulary_module._MatchTable,
        "_home",
        lambda self, first, second: np.zeros_like(first, np.intp),
    )
    vocabulary = Vocabulary()
    texts = ["running dogs walked", "the cats of Astana", "running cats 1,000.5 dogs"]
    for _ in range(2):
        assert sorted_tokens(vocabulary, texts) == [sorted(reference(t)) for t in texts]


def test_many_batches_of_many_words_grow_the_table(monkeypatch):
    # Thousands of words, short and long, ASCII and not, over batches: the table is
    # rebuilt larger several times, and forgotten past WORDS_MAX.
    monkeypatch.setattr(Vocabulary, "WORDS_MAX", 5_000)
    rng = np.random.default_rng(7)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyzéß"))
    vocabulary = Vocabulary()
    for batch in range(12):
        words = [
            "".join(rng.choice(letters[: 26 + (batch % 3)], rng.integers(1, 30)))
            for _ in range(2_000)
        ]
        texts = [" ".join(words[i : i + 20]) for i in range(0, len(words), 20)]
        assert sorted_tokens(vocabulary, texts) == [sorted(reference(t)) for t in texts]
    assert max(len(table.slots) for table in vocabulary._known.values()) >= 8_192


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
    ours, first, which = text.groups(keys)
    want, _, want_which = np.unique(keys, return_index=True, return_inverse=True)
    assert np.array_equal(ours, want) and np.array_equal(which, want_which.ravel())
    assert np.array_equal(keys[first], ours)


def reference_keys(codes: np.ndarray, start: int, length: int) -> tuple[int, int]:
    """span_keys of one span, in Python integers."""
    data = codes[start : start + length].tobytes()
    chunks = [int.from_bytes(data[i : i + 8], "little") for i in range(0, len(data), 8)]
    second = chunks[1] if len(chunks) > 1 else 0
    for chunk in chunks[2:]:
        second = (second * text._HASH_BASE + chunk) % 2**64
    return (chunks[0] if chunks else 0), second


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("abcab é😀")), min_size=1, max_size=80),
    st.lists(st.tuples(st.integers(0, 79), st.integers(0, 40)), min_size=1, max_size=8),
)
def test_span_keys_are_the_bytes_then_their_hash(s, spans):
    codes = text._codes(s)
    spans = [(a % len(codes), n) for a, n in spans]
    spans = [(a, min(n, len(codes) - a)) for a, n in spans]
    starts, lengths = np.array(spans, np.int64).reshape(-1, 2).T
    first, second = text.span_keys(codes, starts, lengths)
    want = [reference_keys(codes, a, n) for a, n in spans]
    assert list(zip(first.tolist(), second.tolist(), strict=True)) == want
    for (a, n), keys in zip(spans, want, strict=True):
        if n * codes.itemsize <= 16:  # keys equal and lengths equal: the same characters
            same = [(b, m) for b, m in spans if m == n and reference_keys(codes, b, m) == keys]
            assert all(codes[b : b + m].tolist() == codes[a : a + n].tolist() for b, m in same)


def test_ascii_classes_are_the_table_classes():
    codes = np.arange(128, dtype=np.uint8)
    assert np.array_equal(text._classes(codes), text._bmp_classes()[:128])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.booleans(), max_size=60), st.lists(st.integers(0, 60), max_size=10))
def test_outside_is_a_search_per_start(marks, cuts):
    # Starts, and disjoint runs each holding one start or more, as _spans has them.
    starts = np.flatnonzero(marks)
    bounds = sorted(set(cuts))
    runs = [(a, b) for a, b in zip(bounds[::2], bounds[1::2], strict=False)]
    runs = [(a, b) for a, b in runs if ((starts >= a) & (starts < b)).any()]
    run_starts, run_ends = np.array(runs, np.int64).reshape(-1, 2).T
    inside = [any(a <= x < b for a, b in runs) for x in starts.tolist()]
    assert text._outside(starts, run_starts, run_ends).tolist() == [not i for i in inside]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab'’‘ʼ`´é\x00 -\n\u00ad")), max_size=40) | st.text())
def test_fold_replaces_the_quotes_as_the_translate_table(s):
    assert text._fold(s) == folded(s)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab é’\ud800\udc00😀")), max_size=20) | st.text())
def test_codes_are_the_code_points_as_narrow_as_they_fit(s):
    codes = text._codes(s)
    assert codes.tolist() == [ord(c) for c in s]
    widest = max(map(ord, s), default=0)
    assert codes.itemsize == (1 if widest < 0x80 else 2 if widest <= 0xFFFF else 4)
