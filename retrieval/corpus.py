"""The one entry point every front end uses (CLI, Discord bot, eval, bench).

SKELETON: signatures are the contract; bodies land with the core issue.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from retrieval.models import Answer, Article, CorpusStats, Sentence, SourceMatch


class Corpus:
    @classmethod
    def open(cls, path: str | Path | None = None, *, create: bool = True) -> Corpus:
        """Open the store at ``path`` (default: $CORPUSBOT_DB or data/corpus.db).

        A missing database is built from ``seeds/`` when ``create``; a corrupt or
        foreign file raises :class:`retrieval.errors.StoreError` with a one-line message.
        """
        raise NotImplementedError

    def ask(self, question: str, *, k: int = 3, offset: int = 0) -> Answer:
        """Answer a question: the top ``k`` sentences after ``offset`` (``More`` pages on)."""
        raise NotImplementedError

    def context(self, sentence_id: int, *, before: int = 1, after: int = 1) -> list[Sentence]:
        """The sentence with its neighbours in the same article, in order."""
        raise NotImplementedError

    def article(self, article_id: int) -> Article | None:
        raise NotImplementedError

    def article_text(self, article_id: int) -> str:
        """The article exactly as stored (complete, boilerplate included)."""
        raise NotImplementedError

    def find_source(self, name: str) -> SourceMatch:
        """Find an article by id, file name, or words of its title/outlet/date/topic."""
        raise NotImplementedError

    def suggest(self, text: str, *, limit: int = 25) -> list[Article]:
        """Articles whose title/outlet/date best match ``text`` (autocomplete); all if empty."""
        raise NotImplementedError

    def articles(self) -> list[Article]:
        raise NotImplementedError

    def stats(self) -> CorpusStats:
        raise NotImplementedError

    def record_feedback(
        self, *, question: str, sentence_ids: Sequence[int], user_id: str, vote: int
    ) -> None:
        """Store a 👍 (+1) / 👎 (-1) for the results shown for ``question``."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
