"""The local harness: the bot's commands without Discord (what ``make run`` starts when no
token is configured).

A line is a question, or one of the bot's commands typed as Discord shows them:

- ``/ask QUESTION``, the same as the question alone; ``/ask QUESTION article:NAME`` asks
  within one article (the ``article`` option of ``/ask``);
- ``/source NAME``: a whole article, named as ``corpusbot source`` names it;
- ``more``: the next quotes of the last answer (the bot's **More** button);
- ``/help``: these lines.

Each reply is what ``corpusbot ask`` / ``corpusbot source`` print, from the same
:class:`~retrieval.corpus.Corpus` calls the bot makes. On a terminal it prompts ``ask>``;
piped, it echoes each line (``> line``) before its reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TextIO

from bot.cli_render import answer_text, source_text
from retrieval.corpus import Corpus
from retrieval.models import Answer

HELP = "\n".join(
    [
        "Type a question, or:",
        "  /ask QUESTION article:NAME   ask within one article",
        "  /source NAME                 a whole article (by id, file, title words, outlet, date)",
        "  more                         the next quotes of the last answer",
        "  /help                        this list",
    ]
)
NOTHING_MORE = "Nothing more to show: ask a question first, or the last answer had no more."
_ARTICLE = re.compile(r"\s+article:\s*(?P<name>\S.*)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class _Asked:
    """The last question answered, so ``more`` can page on from it."""

    question: str
    article_id: int | None
    answer: Answer


class Harness:
    """One conversation: each :meth:`reply` answers a line as the bot would."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.last: _Asked | None = None

    def reply(self, line: str) -> str:
        """The reply to one typed line (a question or a command, module docstring)."""
        text = line.strip()
        command, _, rest = text.partition(" ")
        command = command.casefold()
        if command == "/help":
            return HELP
        if command == "/source":
            if not rest.strip():
                return "Name an article: /source NAME (an id, a file name or words of its title)."
            return source_text(self.corpus, self.corpus.find_source(rest.strip()))
        if text.casefold() == "more":
            return self._more()
        if command == "/ask":
            text = rest
        elif command.startswith("/"):
            return f"No command {command}: /ask, /source, more or /help."
        return self._ask(text)

    def _ask(self, text: str) -> str:
        article_id = None
        scoped = _ARTICLE.search(text)
        if scoped is not None:
            match = self.corpus.find_source(scoped["name"].strip())
            if match.article is None:  # the same stop as `ask --article`
                return source_text(self.corpus, match)
            article_id, text = match.article.id, text[: scoped.start()]
        answer = self.corpus.ask(text, article_id=article_id)
        self.last = _Asked(text, article_id, answer) if answer.answered else None
        return answer_text(answer)

    def _more(self) -> str:
        if self.last is None or not self.last.answer.has_more:
            return NOTHING_MORE
        shown = self.last.answer
        answer = self.corpus.ask(
            self.last.question,
            offset=shown.offset + len(shown.hits),
            article_id=self.last.article_id,
        )
        if not answer.answered:  # the corpus changed since: nothing is left to page
            self.last = None
            return NOTHING_MORE
        self.last = _Asked(self.last.question, self.last.article_id, answer)
        return answer_text(answer)


def run(corpus: Corpus, stdin: TextIO, stdout: TextIO) -> int:
    """Ask questions without Discord: a prompt on a terminal, one reply per line piped."""
    interactive = stdin.isatty()
    harness = Harness(corpus)
    if interactive:
        stats = corpus.stats()
        print(
            f"corpusbot: {stats.articles} articles, {stats.sentences} sentences. "
            "Ask a question, or /help (Ctrl-D to quit).",
            file=stdout,
        )
    while True:
        if interactive:
            try:
                line = input("ask> ")
            except EOFError:
                print(file=stdout)
                return 0
        else:
            line = stdin.readline()
            if not line:
                return 0
            line = line.rstrip("\n")
            if not line.strip():
                continue
            print(f"> {line}", file=stdout)
        if not line.strip():
            continue
        print(harness.reply(line), file=stdout)
        if interactive and harness.last is not None and harness.last.answer.has_more:
            print("(more: the next quotes)", file=stdout)
        print(file=stdout, flush=True)
