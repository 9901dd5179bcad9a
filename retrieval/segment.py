"""Searchable text → sentences with exact character offsets.

sentencex does the segmenting (chosen by measurement, see docs/decisions/001-sentencex.md);
this module has it read again what it misreads in text taken from papers (detached
punctuation, list markers and items: docs/decisions/025-sentencex-misreadings.md), maps its
output back onto the article so every sentence is an exact substring with
``text[start:end] == sentence``, and leaves out the table-like runs :mod:`retrieval.tables`
finds, keeping the sentences around them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from sentencex import segment as _sentencex

from retrieval.tables import is_table_row, may_hold_table, table_runs

# [^\W_] is exactly str.isalnum() (re's \w is isalnum() or "_"), searched in C.
_has_word = re.compile(r"[^\W_]").search


def sentences(text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence inside each searchable span of ``text``.

    Each span is segmented on its own, so a heading or a line never merges into
    the next one, as sentencex reads it with what it misreads read again
    (:func:`_pieces`). Surrounding whitespace is trimmed; pieces with no letter or
    digit (stray punctuation) are dropped. A table-like run is cut out of the
    sentences it lies in (:func:`without_tables`).
    """
    # sentencex encodes to UTF-8, which a lone surrogate (possible in JSON input)
    # breaks; "replace" swaps each for "?" one-for-one, so offsets stay valid. Only
    # a text that holds one needs it (isascii is O(1) on CPython's strings).
    clean = text.isascii() or _encodes(text)
    found: list[tuple[int, int]] = []
    for span_start, span_end in spans:
        block = text[span_start:span_end]
        if not clean:
            block = block.encode("utf-8", "replace").decode("utf-8")
        first = len(found)
        pieces = _pieces(block)
        if "".join(pieces) == block:
            _consecutive(pieces, span_start, found)
        else:
            found += _found(block, pieces, span_start)
        if may_hold_table(block):  # most paragraphs: one regex search, no scan
            runs = table_runs(text, span_start, span_end)
            found[first:] = without_tables(text, found[first:], runs)
    return found


# What sentencex misreads, as text extracted from papers often has it (docs/decisions/
# 025-sentencex-misreadings.md): punctuation set off by a space ("(Khatoon et al., 1972) ,
# and …", "… 2005) . Work by …"), which makes it cut mid-sentence and miss the real end;
# a bracketed list marker ("(iii)", "(a)", "(2)") or a bullet, after which it cuts nothing
# up to the paragraph's end; and a list item ("B) …", "12) …"), which it never cuts.
_detached = re.compile(r" ([.,;:])(?=\s|$)")
_marker = re.compile(r"\(([ivxIVX]{1,4}|[A-Za-z]|\d{1,2})\)(?=\s)")
_bullet = re.compile(r"[•◦▪‣●](?=\s)")
# sentencex 1.0.32 panics on a capital letter, then a space that is not ASCII, then a full
# stop ("Plan A\u00a0."): it slices UTF-8 inside that space. The copy has an ASCII one.
_wide_space_before_stop = re.compile(r"[^\S\x00-\x7f](?=\s*\.)")
_list_item = re.compile(r"\w{1,4}\)\s").match
# A sentence end inside a piece: where the piece read on its own may be cut.
_inner_end = re.compile(r"[.!?][\"'”’)\]]*\s+\S").search


def _attach(m: re.Match[str]) -> str:
    # Only a mark set off from a word: " . " alone on a line is left as it is.
    at = m.start()
    return m[1] + " " if at and not m.string[at - 1].isspace() else m[0]


def _unbracket(m: re.Match[str]) -> str:
    # Only a marker that starts a word: "Figure 1(a) shows" is left as it is.
    at = m.start()
    before = m.string[at - 1] if at else " "
    return f"_{m[1]}_" if before.isspace() or before in "([" else m[0]


def _pieces(block: str) -> list[str]:
    """sentencex's pieces of ``block``.

    It segments a copy of the same length that reads each detached mark as attached to
    the word before it, each bracketed list marker or bullet as a word and a space that
    is not ASCII before a full stop as an ASCII one, and reads again on its own each list
    item ("B) …") that may hold a sentence end: sentencex does not cut inside one, and on
    its own it is cut. The pieces' lengths then cut ``block`` itself. Should the copy's
    pieces not be consecutive (never seen), they are sentencex's own of ``block``."""
    copy = block  # each change only where its character is: most paragraphs need none
    if "(" in copy:
        copy = _marker.sub(_unbracket, copy)
    if not copy.isascii():
        copy = _wide_space_before_stop.sub(" ", _bullet.sub("_", copy))
    if " ." in copy or " ," in copy or " ;" in copy or " :" in copy:
        copy = _detached.sub(_attach, copy)
    pieces = _read_again(_segment(copy))
    if copy is block:
        return pieces
    if "".join(pieces) != copy:
        return _segment(block)
    out, at = [], 0
    for piece in pieces:
        out.append(block[at : at + len(piece)])
        at += len(piece)
    return out


def _segment(text: str) -> list[str]:
    """sentencex's pieces of ``text``, or ``text`` as one piece when sentencex panics: a
    Rust panic is no ``Exception`` and would end the whole ingest over one paragraph."""
    try:
        return _sentencex("en", text)
    except BaseException as err:
        if type(err).__name__ != "PanicException":
            raise
        return [text]


def _read_again(pieces: list[str]) -> list[str]:
    """``pieces``, each list item that may hold a sentence end replaced by its own
    consecutive pieces (read again, to the end)."""
    out: list[str] = []
    todo = pieces[::-1]  # a stack, not recursion: no depth limit, whatever the text
    while todo:
        piece = todo.pop()
        if _list_item(piece) and _inner_end(piece):
            again = _segment(piece)
            if len(again) > 1 and "".join(again) == piece:
                todo += again[::-1]
                continue
        out.append(piece)
    return out


def without_tables(
    text: str, spans: list[tuple[int, int]], runs: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """``spans`` (sentences of ``text``) less the table-like ``runs`` and any sentence
    that is a row of figures. What is left of a sentence a run cut into is kept when it
    still holds :data:`MIN_WORDS` words: the prose a flattened table was glued to."""
    out = []
    for start, end in spans:
        pieces = _outside(start, end, runs)
        if pieces == [(start, end)]:
            if not is_table_row(text[start:end]):
                out.append((start, end))
            continue
        for s, e in pieces:
            piece = text[s:e]
            s += _lead(piece).end()
            e -= len(piece) - len(piece.rstrip())
            if s < e and len(_word(text[s:e])) >= MIN_WORDS and not is_table_row(text[s:e]):
                out.append((s, e))
    return out


MIN_WORDS = 3
# What a piece left of a cut sentence starts with that no sentence starts with: any
# space (a no-break space too), and the punctuation the cut run left behind.
_lead = re.compile(r"[\s,;:.)\]]*").match
_word = re.compile(r"[^\W\d_]{2,}").findall


def _outside(start: int, end: int, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` that no run covers."""
    pieces, at = [], start
    for s, e in runs:
        if e <= at or s >= end:
            continue
        if s > at:
            pieces.append((at, s))
        at = max(at, e)
    if at < end:
        pieces.append((at, end))
    return pieces


def _consecutive(pieces: list[str], at: int, found: list[tuple[int, int]]) -> None:
    """Add to ``found`` the sentences of a block that ``pieces`` cut into, in order,
    nothing changed or left out (as sentencex does), the block being at ``at``.

    What :func:`_found` gives, with no search: each piece starts where the last one
    ended, and between the last sentence's end and this one's first character there
    is only whitespace, so that is where the search would find it. A search for a long
    sentence is not cheap (str.find prepares the needle: ~1 µs a sentence)."""
    for piece in pieces:
        stripped = piece.strip()
        if stripped and _has_word(stripped):
            start = at + len(piece) - len(piece.lstrip())
            found.append((start, start + len(stripped)))
        at += len(piece)


def _found(block: str, pieces: list[str], span_start: int) -> Iterator[tuple[int, int]]:
    """The sentences of ``block`` (at ``span_start``) in ``pieces``: each piece
    stripped and searched for in the block after the last, kept if it has a letter or
    digit."""
    cursor = 0
    for piece in pieces:
        stripped = piece.strip()
        if not stripped:
            continue
        # sentencex returns consecutive pieces of the input; find() keeps us exact
        # even if it ever normalises whitespace between them.
        found = block.find(stripped, cursor)
        if found < 0:
            continue
        cursor = found + len(stripped)
        if _has_word(stripped):
            yield span_start + found, span_start + cursor


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
