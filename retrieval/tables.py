"""Table-like runs inside searchable text, found so that they can be left out of the index.

Text taken from PDFs and web pages often holds a table flattened into a paragraph: cells of
numbers and short labels, run on into the sentences around them ("... fused to pVIII
(Table 1). pIX Fully recombinant (type 9+9 system) Yes ∼5 >25 kDa Gao et al. (2002) ...").
Such a run answers no question and, kept inside a "sentence", buries the real sentence it
is glued to. :func:`table_runs` finds the runs by their shape only, never by their words:

- a stretch of tokens dense in cell figures (numbers side by side with no comma between
  them, as the cells of a flattened row stand) and all but free of function words: each
  cell figure scores +1, each stopword −1, any other word 0; a stretch scoring at least
  :data:`RUN_SCORE` is a run. Prose quotes its figures with commas, shares and words
  between them ("11, 12 and 10", "16 (3.8%)", "OR, 1.52; 95% CI, 1.11-2.09") and scores 0;
- a line of three or more short cells split by tabs or pipes (a plain-text or Markdown
  table row, or its ``|---|---|`` rule).

:func:`is_table_row` judges a whole sentence: numbers and no stopword ("Hyperarousal,
median (IQR) 6.0(2.0, 10.0) 6.0(2.0, 9.0) .29").
"""

from __future__ import annotations

import itertools
import re

from retrieval.stopwords import STOPWORDS

RUN_SCORE = 6  # a run holds at least six cell figures more than it has stopwords
ROW_NUMBERS = 3  # a sentence with no stopword and this many numbers is a table row
_CELL_WORDS = 4  # a table cell is a label or a figure, not a clause
_UNIT_TOKENS = 2
_STOP_WEIGHT = -1

_TOKEN = re.compile(r"\S+")
_DIGIT = re.compile(r"[0-9]")  # ASCII digits: a class re scans for faster than \d
_LETTER = re.compile(r"[^\W\d_]")
_EDGE = re.compile(r"^\W+|\W+$")
_CELL_SPLIT = re.compile(r"\t+| *\| *")
# A token holding a digit, then one starting with a number: what every two side-by-side
# cell figures match (and more). Lookahead: "1 2 3" is two pairs.
_PAIR = re.compile(r"[0-9][^\s,;]*\s+(?=[<>≤≥∼~±+−.-]?[0-9])")


def may_hold_table(block: str) -> bool:
    """False when ``block`` can hold no run and no row (no tab or pipe, and fewer than two
    pairs of numbers side by side): the test, in C, that spares most paragraphs the scan."""
    if "\t" in block or "|" in block:
        return True
    if not any(map(block.__contains__, "0123456789")):  # ten searches in C beat one regex
        return False
    first = _PAIR.search(block)
    return first is not None and _PAIR.search(block, first.end()) is not None


def token_weights(tokens: list[str]) -> list[int]:
    """A weight for each token: +1 for a *cell figure*, −1 for a stopword, 0 otherwise.

    A cell figure is a number ("2700", "∼5-8", ">25", "1a": ASCII digits with at most
    one letter) standing next to another number with no comma or semicolon between them,
    as cells of a flattened row do ("Yes ∼5 >25 kDa", "16  0  45  1"). Numbers in prose
    are listed with commas or set among words ("11, 12 and 10", "OR, 1.52; 95% CI") and
    weigh 0, as do citation markers ("[12]") and a share after its count ("16 (3.8%)")."""
    number = [_is_number(t) for t in tokens]
    # "16 (3.8%)" is one figure and its share, not two cells.
    pairs = [
        number[i] and number[i + 1] and not a.endswith((",", ";")) and not b.startswith("(")
        for i, (a, b) in enumerate(itertools.pairwise(tokens))
    ]
    weights = []
    for i, token in enumerate(tokens):
        if number[i]:
            weights.append(1 if (i < len(pairs) and pairs[i]) or (i > 0 and pairs[i - 1]) else 0)
        else:
            weights.append(_STOP_WEIGHT if _EDGE.sub("", token).lower() in STOPWORDS else 0)
    return weights


def _is_number(token: str) -> bool:
    return (
        _DIGIT.search(token) is not None
        and "[" not in token
        and "]" not in token
        and len(_LETTER.findall(token)) <= 1
    )


def table_runs(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` offsets in ``text`` of the table-like runs in ``text[start:end]``,
    in order and disjoint."""
    end = len(text) if end is None else end
    block = text[start:end]
    if not may_hold_table(block):
        return []
    runs = _number_runs(block) + _row_lines(block)
    return [(start + s, start + e) for s, e in _merged(runs)]


def _number_runs(block: str) -> list[tuple[int, int]]:
    """Maximal stretches scoring at least RUN_SCORE (each run trimmed to the number
    where its score peaked; a score falling to 0 starts afresh)."""
    runs = []
    score = best = 0
    run_start = best_at = -1
    found = list(_TOKEN.finditer(block))
    weights = token_weights([m.group() for m in found])
    for i, (m, w) in enumerate(zip(found, weights, strict=True)):
        if score == 0 and w <= 0:
            continue
        if score == 0:
            run_start = m.start()
        score += w
        if score > best:
            best, best_at = score, i
        if score <= 0:
            if best >= RUN_SCORE:
                runs.append((run_start, _unit_end(found, weights, best_at)))
            score = best = 0
    if best >= RUN_SCORE:
        runs.append((run_start, _unit_end(found, weights, best_at)))
    return runs


def _unit_end(found: list[re.Match[str]], weights: list[int], last: int) -> int:
    """Where a run whose last figure is token ``last`` ends: after up to
    :data:`_UNIT_TOKENS` lower-case words that follow it (the unit of the last cell,
    "kDa", "residues"), not over a stopword or a capital (the next sentence)."""
    end = found[last].end()
    after = slice(last + 1, last + 1 + _UNIT_TOKENS)
    for m, w in zip(found[after], weights[after], strict=True):
        token = m.group()
        if w != 0 or not token[0].islower() or _DIGIT.search(token):
            break
        end = m.end()
    return end


def _row_lines(block: str) -> list[tuple[int, int]]:
    """Lines of three or more short cells split by tabs or pipes. (Not by runs of
    spaces: text copied from PDFs has them between sentences.)"""
    if "\t" not in block and "|" not in block:
        return []
    rows = []
    for m in re.finditer(r"[^\n]+", block):
        cells = [c for c in _CELL_SPLIT.split(m.group().strip().strip("|")) if c.strip()]
        if len(cells) >= 3 and all(len(c.split()) <= _CELL_WORDS for c in cells):
            rows.append((m.start(), m.end()))
    return rows


def _merged(runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(runs):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def is_table_row(sentence: str) -> bool:
    """Whether a whole sentence is a row of figures: at least ROW_NUMBERS cell figures
    (:func:`token_weights`), no stopword, and numbers for at least a third of its tokens."""
    if not may_hold_table(sentence):  # fewer than three figures side by side
        return False
    tokens = sentence.split()
    weights = token_weights(tokens)
    figures = weights.count(1)
    numbers = sum(map(_is_number, tokens))
    return figures >= ROW_NUMBERS and _STOP_WEIGHT not in weights and 3 * numbers >= len(tokens)
