"""Misspelt question words, read as the corpus's own words.

People type in chat, and one typo ("exppo", "contries") must not turn an answer into
"not found". A question word is read as another when

- its term is in no sentence of the corpus (a word the corpus has is never changed),
- it is no English word either (pyspellchecker's English word list: "date" asked of a
  corpus without dates is still "date", not the corpus's "daye"),
- it is a plain word of at least :data:`MIN_LETTERS` letters (shorter words have too
  many neighbours to pick from), and
- a word one edit away (a letter deleted, inserted, replaced, or two neighbours swapped:
  Damerau's single error, most typos) has a term the corpus holds.

Of those words the one whose term most sentences hold wins, as in Norvig's corrector
(which pyspellchecker implements); the candidates are the corpus's own terms, so a name
only the corpus knows ("Jiangxi") can be read, and a word no sentence holds never is. A
spelling that differs only by its accents comes first ("fecamp": "Fécamp"), and a word
with a stopword one edit away is left alone ("caan" is "can"). Decision 024 measures each
rule.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from spellchecker import SpellChecker

from retrieval.stopwords import STOPWORDS
from retrieval.text import stems, words

MIN_LETTERS = 4
_PLAIN = re.compile(r"[^\W\d_]+")  # letters only: no number, no "xi's"


@dataclass(frozen=True)
class Spelling:
    """The question as it was searched, and which typed words it reads otherwise."""

    question: str
    read_as: tuple[tuple[str, str], ...]  # (typed word, the word read), in question order


@functools.cache
def english() -> SpellChecker:
    """The English word list (in the wheel: nothing is downloaded), loaded on first use."""
    return SpellChecker(language="en", distance=1)


def correct(question: str, frequencies: Callable[[list[str]], dict[str, int]]) -> Spelling | None:
    """``question`` with its misspelt words read as the corpus's (module docstring);
    ``None`` when no word is read otherwise. ``frequencies`` gives, of the terms it is
    passed, those the corpus holds with the number of sentences holding each."""
    typed = [w for w in dict.fromkeys(words(question)) if _correctable(w)]
    if not typed:
        return None
    terms = stems(typed)
    known = frequencies(list(dict.fromkeys(terms)))
    # The word list is read only for words the corpus lacks (loaded at the first such word).
    unknown = [w for w, t in zip(typed, terms, strict=True) if t not in known]
    options = {w: _options(w) for w in unknown if w not in english()}
    held = frequencies(sorted({t for o in options.values() for t in o}))
    read_as = []
    for w, option in options.items():
        found = [t for t in option if t in held]
        if found:
            # A word typed without its accents first ("fecamp": "Fécamp"), then the term
            # most sentences hold; ties a–z.
            term = min(found, key=lambda t: (_plain(option[t]) != w, -held[t], t))
            read_as.append((w, option[term]))
    if not read_as:
        return None
    return Spelling(apply(read_as, question), tuple(read_as))


def _correctable(word: str) -> bool:
    return len(word) >= MIN_LETTERS and word not in STOPWORDS and _PLAIN.fullmatch(word) is not None


def _options(word: str) -> dict[str, str]:
    """The terms of the words one edit from ``word`` → the most frequent English word
    among them (a–z when none is English). Empty when a stopword is one edit away: the
    typo is of a word searches leave out ("caan" is "can", not the corpus's "clan")."""
    candidates = [w for w in english().edit_distance_1(word) if w != word]
    if any(w in STOPWORDS for w in candidates):
        return {}
    candidates = sorted(w for w in candidates if _PLAIN.fullmatch(w))
    frequency = english().word_frequency
    out: dict[str, str] = {}
    for w, term in zip(candidates, stems(candidates), strict=True):
        if term not in out or frequency[w] > frequency[out[term]]:
            out[term] = w
    return out


def _plain(word: str) -> str:
    """``word`` without its accents."""
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


def apply(read_as: Iterable[tuple[str, str]], text: str) -> str:
    """``text`` with each typed word replaced as in ``read_as`` (whole words, any case),
    written in the case it was typed in ("Zhejang" → "Zhejiang", "SARSS" → "SARS"): the
    re-ranker's vectors tell cases apart."""
    for w, word in read_as:
        text = re.sub(
            rf"(?<![^\W_]){re.escape(w)}(?![^\W_])",
            lambda m, word=word: _in_case_of(m.group(), word),
            text,
            flags=re.I,
        )
    return text


def _in_case_of(typed: str, word: str) -> str:
    if len(typed) > 1 and typed.isupper():
        return word.upper()
    if typed[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
