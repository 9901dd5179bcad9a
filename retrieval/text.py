"""Text → terms: the one tokenizer for sentences, questions and article names.

Unicode NFKC + casefold, words and numbers as tokens, English stopwords out
(NLTK's list less the content words news questions need: :mod:`retrieval.stopwords`),
Snowball English stemming (PyStemmer).
Numbers and years are kept: ``$125.23 million`` gives ``125.23``, ``1,000`` gives ``1000``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from itertools import filterfalse

import Stemmer

from retrieval.stopwords import STOPWORDS

# A number with inner separators stays one token; otherwise runs of letters/digits,
# allowing an inner apostrophe so "Xi's" is one word for the stemmer to reduce.
_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:'[^\W_]+)*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?:\D|$))")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})

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


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).casefold()


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


def tokenize(text: str) -> list[str]:
    """The BM25 terms of ``text``, in order, duplicates kept."""
    kept = list(filterfalse(STOPWORDS.__contains__, words(text)))
    return _stem(kept) if kept else []


# -- many texts at once (ingest) ---------------------------------------------------------

# Joins the texts of a batch. It is never part of a token, and NFKC, casefolding and the
# apostrophe table act on characters without merging anything into it (nothing composes
# with it), so one pass over the joined text finds exactly each text's own matches.
SEPARATOR = "\x00"
_TOKEN_OR_SEPARATOR = re.compile(SEPARATOR + "|" + _TOKEN.pattern)


def matches(texts: Sequence[str]) -> list[str] | None:
    """The token matches of all ``texts`` in one regex pass, each text's followed by
    :data:`SEPARATOR`; :func:`terms_of` turns each distinct match into its term. ``None``
    when a text holds the separator itself (tokenize such texts one by one)."""
    joined = SEPARATOR.join(texts) + SEPARATOR
    if joined.count(SEPARATOR) != len(texts):
        return None
    return _TOKEN_OR_SEPARATOR.findall(_fold(joined))


def terms_of(found: list[str]) -> list[str | None]:
    """The term each match of :func:`matches` stands for (``None``: a stopword), as
    :func:`tokenize` would give it."""
    rewritten = list(map(_rewrite, found))
    kept = list(filterfalse(STOPWORDS.__contains__, rewritten))
    stems = dict(zip(kept, _stemmer().stemWords(kept), strict=True))
    return list(map(stems.get, rewritten))
