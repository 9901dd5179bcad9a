"""Gold questions as people type them in chat, for ``corpusbot eval --typos``.

Lowercase, no punctuation, and one typo: one letter deleted, inserted, replaced, or two
neighbours swapped, in one word that is not a stopword and has at least three letters.
The word, the kind of typo, its place and the letter are drawn at random from a seed
and the question's id, so a run is repeatable and every question gets its own typo.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace

from retrieval.evaluate import GoldQuestion
from retrieval.stopwords import STOPWORDS

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def as_typed(question: str, rng: random.Random) -> str:
    """``question`` lowercased, without punctuation, with one typo (module docstring)."""
    ws = _WORD.findall(question.lower())
    ws = [w.replace("'", "") for w in ws]
    targets = [i for i, w in enumerate(ws) if len(w) >= 3 and w.isalpha() and w not in STOPWORDS]
    if targets:
        i = rng.choice(targets)
        ws[i] = typo(ws[i], rng)
    return " ".join(ws)


def typo(word: str, rng: random.Random) -> str:
    """``word`` with one random Damerau edit (never the word itself)."""
    kind = rng.choice(("delete", "insert", "replace", "swap"))
    at = rng.randrange(len(word))
    if kind == "delete":
        return word[:at] + word[at + 1 :]
    if kind == "insert":
        return word[:at] + rng.choice(_LETTERS) + word[at:]
    if kind == "replace":
        return word[:at] + rng.choice(_LETTERS.replace(word[at], "")) + word[at + 1 :]
    at = min(at, len(word) - 2)
    swapped = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return swapped if swapped != word else word[:at] + word[at + 1 :]  # "ll": delete one


def typed_questions(questions: list[GoldQuestion], seed: int = 0) -> list[GoldQuestion]:
    """Each question as typed in chat; its id, gold article and answers unchanged."""
    return [
        replace(q, question=as_typed(q.question, random.Random(f"{seed}:{q.id}")))
        for q in questions
    ]
