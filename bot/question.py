"""A question as typed in a chat, reduced to the words a person meant to ask.

Chat messages carry things that are not words of the question: mentions (``<@123>``,
``@everyone``), channel and role tags, custom emoji (``<:name:123>``), command mentions,
timestamps, and markdown (``**bold**``, ``||spoiler||``, ``> quote``, links). Searched as
words they become terms ("everyon", "bold", "123") and can turn a good question into
"Not found". :func:`plain_question` takes them out before searching; it is a pure function
so the CLI can use it for text pasted from Discord as well.
"""

from __future__ import annotations

import re

import discord

from retrieval.text import clean

# <@id> <@!id> <@&role> <#channel> <:emoji:id> <a:emoji:id> </command:id> <t:0:R> <id:browse>
_TAG = re.compile(r"<(?:@[!&]?\d+|#\d+|a?:[\w~-]+:\d+|/[\w -]+:\d+|t:-?\d+(?::[tTdDfFR])?|id:\w+)>")
_EVERYONE = re.compile(r"@(?:everyone|here)\b", re.IGNORECASE)
# [label](url) and [label](<url>): the label is what the person wrote.
_MASKED_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?[^\s)>]*>?\s*\)")
# <https://…> only stops Discord's link preview: keep the address itself.
_ANGLE_URL = re.compile(r"<((?:https?|steam)://[^\s>]+)>")
# Block markers at a line start: headings, -# subtext, quotes, list bullets.
_BLOCK = re.compile(r"^[ \t]*(?:#{1,3}[ \t]+|-#[ \t]+|>{1,3}[ \t]?|[-*+][ \t]+)", re.MULTILINE)
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([?!.,;:])(?=\s|$)")
# (web addresses are matched first, so theirs stay).
_INNER_UNDERSCORE = re.compile(r"(?:https?|steam)://\S+|(?<=[^\W_])_(?=[^\W_])")


def plain_question(text: str) -> str:
    """``text`` without chat markup: mentions, tags, custom emoji and markdown removed,
    whitespace folded. The words themselves, and their order, are kept.

    >>> plain_question("@everyone **bold** what did <@42> say about ||trade||?")
    'bold what did say about trade?'
    """
    text = _TAG.sub(" ", text)
    text = _EVERYONE.sub(" ", text)
    text = _MASKED_LINK.sub(r"\1", text)
    text = _ANGLE_URL.sub(r"\1", text)
    text = _BLOCK.sub("", text)
    # An underscore inside a word joins two words (snake_case), it is not emphasis.
    text = _INNER_UNDERSCORE.sub(lambda m: " " if m.group() == "_" else m.group(), text)
    # discord.py's own remover takes the inline marks (* _ ~ | ` and escapes) away;
    # ignore_links keeps an address's underscores.
    text = discord.utils.remove_markdown(text, ignore_links=True)
    # A tag taken from before a question mark leaves "trade ?": close the gap.
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", clean(text))
