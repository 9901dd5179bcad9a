"""Text → terms: the one tokenizer for sentences, questions and article names.

Unicode NFKC + casefold (a word hyphenated at a line break read whole), words and numbers
as tokens, English stopwords out
(NLTK's list less the content words news questions need: :mod:`retrieval.stopwords`),
Snowball English stemming (PyStemmer).
Numbers and years are kept: ``$125.23 million`` gives ``125.23``, ``1,000`` gives ``1000``.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import filterfalse

import numpy as np
import Stemmer

from retrieval.stopwords import STOPWORDS

# A number with inner separators stays one token; otherwise runs of letters/digits,
# allowing an inner apostrophe so "Xi's" is one word for the stemmer to reduce.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:'[^\W_]+)*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})
_QUOTES = tuple(map(chr, _APOSTROPHES))

# PyStemmer objects are not documented as thread-safe; the bot tokenizes in worker threads.
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        # No PyStemmer cache: its default 10,000 entries thrash on a news vocabulary and
        # cost more than they save; _STEMS below is the cache.
        stemmer = _local.stemmer = Stemmer.Stemmer("english", 0)
    return stemmer


# word -> stem. Stemming is the costliest step of tokenizing (~0.6 µs a word, a dict hit
# ~0.05 µs) and a corpus repeats its words. Dict reads and writes are atomic under the
# GIL, so threads share it; it is emptied when full to bound memory (~20 MB).
_STEMS: dict[str, str] = {}
_STEMS_MAX = 150_000


def _stem(words: list[str]) -> list[str]:
    stems = _STEMS
    out = list(map(stems.get, words))  # map over a C method: no Python frame per word
    if None in out:
        missing = list(dict.fromkeys(w for w, s in zip(words, out, strict=True) if s is None))
        new = dict(zip(missing, _stemmer().stemWords(missing), strict=True))
        if len(stems) > _STEMS_MAX:
            stems.clear()
        stems.update(new)
        out = [new[w] if s is None else s for w, s in zip(words, out, strict=True)]
    return out


_NUMBER_COMMA = re.compile(r"\d,\d")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def clean(text: str) -> str:
    """What people type, made safe to search: lone surrogates become "?", control and
    zero-width characters go, whitespace is folded to single spaces."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    return " ".join(text.split())


# A word hyphenated at a line break, as text taken from a PDF or a printed page has it
# ("fre-\nquency"), or holding a soft hyphen: read as the one word it is. Letters on both
# sides of a line's hyphen only: "COVID-\n19" and a dash ending a line are left as they are.
# The pattern starts at the hyphen, so the regex engine skips to each "-" (a lookbehind
# first is tried at every character: 30 ms a MB of text, against 5).
_LINE_HYPHEN = re.compile(r"-(?<=[^\W\d_]-)[ \t]*\r?\n[ \t]*(?=[^\W\d_])")
_SOFT_HYPHEN = "\u00ad"


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text)
    if "\n" in folded and "-" in folded:  # most sentences have no line break
        folded = _LINE_HYPHEN.sub("", folded)
    if _SOFT_HYPHEN in folded:
        folded = folded.replace(_SOFT_HYPHEN, "")
    # What .translate(_APOSTROPHES) gives: no quote becomes another. translate with a
    # dict looks every character of a non-ASCII text up (~70 ns each: 70 ms a 1 MB
    # part, most of a worker's time), a replace scans for one (and skips a quote that
    # cannot occur: every non-ASCII one in an ASCII text).
    for quote in _QUOTES:
        folded = folded.replace(quote, "'")
    return folded.casefold()


def _rewrite(word: str) -> str:
    """One match as a word: "1,000" → "1000", "xi's" → "xi" (a function of the match
    alone, so a batch can rewrite each distinct match once)."""
    if word[0].isdigit():
        return _THOUSANDS.sub("", word)
    if word.endswith("'s"):
        return word[:-2]
    return word


def words(text: str) -> list[str]:
    """Normalised surface words of ``text`` (casefolded, before stopwords and stemming)."""
    text = _fold(text)
    found = _TOKEN.findall(text)
    if "'s" not in text and not _NUMBER_COMMA.search(text):
        return found  # the common case: no "1,000" and no "Xi's" to rewrite
    return list(map(_rewrite, found))


def stems(words: list[str]) -> list[str]:
    """The terms of normalised words that are not stopwords (as :func:`tokenize` stems)."""
    return _stem(words) if words else []


def tokenize(text: str) -> list[str]:
    """The BM25 terms of ``text``, in order, duplicates kept."""
    kept = list(filterfalse(STOPWORDS.__contains__, words(text)))
    return _stem(kept) if kept else []


# -- many texts at once (ingest) ---------------------------------------------------------

# Joins the texts of a batch. It is never part of a token, and NFKC, casefolding and the
# apostrophe table act on characters without merging anything into it (nothing composes
# with it), so one pass over the joined text finds exactly each text's own matches.
SEPARATOR = "\x00"


@dataclass(frozen=True)
class Matches:
    """The token matches of a batch of texts, as :func:`matches` finds them: spans of
    the folded text."""

    folded: str  # the batch's texts joined by SEPARATOR, folded
    codes: np.ndarray  # folded's code points, one item per character
    starts: np.ndarray  # per match, in order
    ends: np.ndarray
    text: np.ndarray  # per match: the index of its text in the batch

    def strings(self, at: np.ndarray) -> list[str]:
        """The matches ``at`` as strings."""
        return [
            self.folded[s:e]
            for s, e in zip(self.starts[at].tolist(), self.ends[at].tolist(), strict=True)
        ]

    def keys(self) -> tuple[np.ndarray, np.ndarray]:
        """The :func:`span_keys` of the matches."""
        return span_keys(self.codes, self.starts, self.ends - self.starts)


# Per byte count 0-8, the mask of that many bytes of a little-endian 64-bit window.
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(9)], np.uint64)

# The base of the hash of a span's 8-byte chunks past its 16th byte.
_HASH_BASE = 0x9E3779B97F4A7C15  # odd: multiplying by it is a bijection modulo 2**64


def span_keys(
    codes: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit keys per span ``codes[s : s + n]`` of its bytes, zero-padded: the
    first 8 bytes, and the next 8, folded with any further 8-byte chunks by a polynomial
    hash (``h * base + chunk``, modulo 2**64).

    So a span of at most 16 bytes *is* its keys: two such spans with the same keys are
    the same characters (a token has no NUL character, so the zero padding cannot be
    mistaken for one); longer ones may share keys and must be compared. A token of
    ASCII text is rarely longer (16 characters), and its keys cost a gather or two of
    8-byte windows instead of a pass over every character of the batch."""
    size = codes.itemsize
    windows = _windows(codes)
    at, left = starts * size, lengths * size
    first = windows[at] & _LOW_BYTES[np.minimum(left, 8)]
    second = np.zeros(len(starts), np.uint64)
    rest = np.flatnonzero(left > 8)
    at, left = at[rest] + 8, left[rest] - 8
    folded = windows[at] & _LOW_BYTES[np.minimum(left, 8)]
    more = np.flatnonzero(left > 8)  # of ``rest``, the ones with a further chunk
    at, left = at[more] + 8, left[more] - 8
    base = np.uint64(_HASH_BASE)
    while len(more):
        folded[more] = folded[more] * base + (windows[at] & _LOW_BYTES[np.minimum(left, 8)])
        on = left > 8
        more, at, left = more[on], at[on] + 8, left[on] - 8
    second[rest] = folded
    return first, second


def groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(keys, return_index=True, return_inverse=True)``, but the index is of
    any one item of each group, not the first: the unstable sort that allows is ~30%
    faster, and equal matches are checked to be equal anyway."""
    order = np.argsort(keys)
    ordered = keys[order]
    head = np.empty(len(keys), bool)
    head[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=head[1:])
    which = np.empty(len(keys), np.intp)
    which[order] = np.cumsum(head) - 1
    return ordered[head], order[head], which


def same_chars(
    codes: np.ndarray,
    starts: np.ndarray,
    other: np.ndarray,
    other_starts: np.ndarray,
    lengths: np.ndarray,
) -> bool:
    """Whether ``codes[s : s + n]`` equals ``other[o : o + n]`` for every s, o, n.

    Compared 8 bytes at a time (a word of ASCII text in one or two comparisons),
    through views of both arrays' bytes at every offset; arrays of different item
    sizes are compared character by character."""
    if codes.dtype != other.dtype:
        return np.array_equal(
            codes[char_positions(starts, lengths)], other[char_positions(other_starts, lengths)]
        )
    size = codes.itemsize
    mine = _windows(codes)
    theirs = mine if other is codes else _windows(other)
    keep = lengths > 0
    at, other_at, left = starts[keep] * size, other_starts[keep] * size, lengths[keep] * size
    while len(left):
        differ = (mine[at] ^ theirs[other_at]) & _LOW_BYTES[np.minimum(left, 8)]
        if differ.any():
            return False
        more = left > 8
        at, other_at, left = at[more] + 8, other_at[more] + 8, left[more] - 8
    return True


def _windows(codes: np.ndarray) -> np.ndarray:
    """The 8 bytes from each byte offset of ``codes`` (zeros past its end), as a
    little-endian uint64 view: item ``i`` holds bytes ``i`` to ``i + 7``."""
    padded = np.zeros(codes.nbytes + 8, np.uint8)
    padded[: codes.nbytes] = codes.reshape(-1).view(np.uint8)
    return np.ndarray((codes.nbytes + 1,), np.dtype("<u8"), padded, strides=(1,))


def char_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions of the characters of the spans ``start : start + length``, in turn."""
    ends = np.cumsum(lengths)
    return np.arange(ends[-1] if len(ends) else 0) + np.repeat(starts - (ends - lengths), lengths)


def matches(texts: Sequence[str]) -> Matches | None:
    """The token matches of all ``texts``, exactly as ``_TOKEN`` finds them text by text;
    :func:`terms_of` turns each distinct match into its term. ``None`` when a text holds
    :data:`SEPARATOR` itself (tokenize such texts one by one).

    At ingest a regex pass and a dict lookup per match were most of a worker's time, so
    the character classes of ``_TOKEN`` are applied in NumPy to the whole batch. A run
    of word characters and inner dots or commas holding a number such as ``1,000.5`` is
    where the regex's alternatives decide, so each such run goes through the regex."""
    joined = SEPARATOR.join(texts) + SEPARATOR
    if joined.count(SEPARATOR) != len(texts):
        return None
    folded = _fold(joined)
    codes = _codes(folded)
    starts, ends = _spans(folded, codes)
    # Each text's matches are those before its separator, and after the last one's.
    before = np.searchsorted(starts, np.flatnonzero(codes == 0))
    text = np.repeat(np.arange(len(texts)), np.diff(before, prepend=0))
    return Matches(folded, codes, starts, ends, text)


# Character classes of ``_TOKEN``: bits of one byte per character.
_WORD = 1  # [^\W_], that is str.isalnum()
_DIGIT = 2  # \d, that is str.isdecimal()
_APOSTROPHE = 4
_POINT = 8  # [.,]


def _class(char: str) -> int:
    return (
        _WORD * char.isalnum()
        | _DIGIT * char.isdecimal()
        | _APOSTROPHE * (char == "'")
        | _POINT * (char in ".,")
    )


@functools.cache
def _bmp_classes() -> np.ndarray:
    return np.array([_class(chr(c)) for c in range(0x10000)], np.uint8)


def _codes(text: str) -> np.ndarray:
    """The code points of ``text``, one array item per character (so array offsets are
    string offsets); a lone surrogate (JSON may hold one) stays one code point.

    As narrow as they fit: a byte for ASCII, 2 bytes when no character is beyond the
    BMP (as in most text that is not ASCII: a curly quote is enough), so that more
    characters of a token fit in the 16 bytes of its keys (:func:`span_keys`)."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), np.uint8)
    two = text.encode("utf-16-le", "surrogatepass")
    if len(two) == 2 * len(text):  # no surrogate pair: each unit is a code point
        return np.frombuffer(two, np.uint16)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


@functools.cache
def _ascii_classes() -> bytes:
    return _bmp_classes()[:256].tobytes()


def _classes(codes: np.ndarray) -> np.ndarray:
    if codes.dtype == np.uint8:
        # bytes.translate is 3x NumPy's table lookup (a 1 MB part: 0.6 against 2 ms).
        return np.frombuffer(codes.tobytes().translate(_ascii_classes()), np.uint8)
    table = _bmp_classes()
    if codes.dtype == np.uint16:
        return table[codes]
    beyond = codes > 0xFFFF
    out = table[np.where(beyond, 0, codes)]
    if beyond.any():  # rare (emoji, historic scripts): classed one distinct code at a time
        distinct, at = np.unique(codes[beyond], return_inverse=True)
        out[beyond] = np.array([_class(chr(c)) for c in distinct.tolist()], np.uint8)[at]
    return out


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the runs of True in ``mask``."""
    edges = np.flatnonzero(np.diff(mask, prepend=False, append=False))
    return edges[::2], edges[1::2]


def _spans(folded: str, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the matches of ``_TOKEN`` in ``folded``, in order."""
    classes = _classes(codes)
    word = (classes & _WORD).astype(bool)
    # Away from numbers, a match is a run of word characters joined by single
    # apostrophes (the second alternative of _TOKEN, greedy).
    joins = np.zeros(len(codes), bool)
    joins[1:-1] = (classes[1:-1] == _APOSTROPHE) & word[:-2] & word[2:]
    starts, ends = _runs(word | joins)
    digit = (classes & _DIGIT).astype(bool)
    links = np.flatnonzero((classes[1:-1] == _POINT) & digit[:-2] & digit[2:]) + 1
    if not len(links):
        return starts, ends
    # A digit, a dot or comma, a digit: there the first alternative can match, from any
    # place a match starts. Each run of token characters (word, apostrophe, dot, comma;
    # no match crosses its ends) holding one goes through the regex.
    run_starts, run_ends = _runs(classes != 0)
    held = np.unique(np.searchsorted(run_ends, links, side="right"))
    kept = _outside(starts, run_starts[held], run_ends[held])
    found = [
        (m.start(), m.end())
        for s, e in zip(run_starts[held].tolist(), run_ends[held].tolist(), strict=True)
        for m in _TOKEN.finditer(folded, s, e)
    ]
    more = np.array(found, np.int64).reshape(-1, 2)
    starts, ends = starts[kept], ends[kept]
    at = np.searchsorted(starts, more[:, 0])  # both in order, and disjoint: merged
    return np.insert(starts, at, more[:, 0]), np.insert(ends, at, more[:, 1])


def _outside(starts: np.ndarray, run_starts: np.ndarray, run_ends: np.ndarray) -> np.ndarray:
    """Which of the ascending ``starts`` lie in none of the disjoint ascending runs
    ``run_start : run_end``, each holding one start or more.

    The starts in a run are a slice of them: a +1 where each slice begins and a -1 where
    it ends, summed, are 0 outside them (a few hundred runs, not a search per start)."""
    depth = np.zeros(len(starts) + 1, np.int32)
    depth[np.searchsorted(starts, run_starts)] += 1  # distinct: each run holds a start
    depth[np.searchsorted(starts, run_ends)] -= 1
    return np.cumsum(depth[:-1]) == 0


def terms_of(found: list[str]) -> list[str | None]:
    """The term each match of :func:`matches` stands for (``None``: a stopword), as
    :func:`tokenize` would give it."""
    rewritten = list(map(_rewrite, found))
    kept = list(filterfalse(STOPWORDS.__contains__, rewritten))
    stems = dict(zip(kept, _stemmer().stemWords(kept), strict=True))
    return list(map(stems.get, rewritten))
