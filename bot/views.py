"""Buttons under answers and articles.

The Discord layer stays thin: every callback turns a click into one Corpus call (in a
worker thread, so heartbeats never stall) and renders the result with :mod:`bot.render`.
Errors raised here go to the same tree-wide handler as command errors.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot import render
from bot.asking import ask_logged
from retrieval.models import Answer, Article

if TYPE_CHECKING:
    from retrieval.corpus import Corpus

log = logging.getLogger("corpusbot.bot")

RESULTS_PER_ANSWER = 3
# Interaction tokens live 15 minutes; remove buttons before that so the edit still works.
ANSWER_TIMEOUT = 600.0
PAGER_TIMEOUT = 180.0


def corpus_of(interaction: discord.Interaction) -> Corpus:
    """The bot's Corpus (one per process, thread-safe)."""
    return interaction.client.corpus  # type: ignore[attr-defined]


async def ask(
    interaction: discord.Interaction,
    question: str,
    *,
    offset: int = 0,
    k: int = RESULTS_PER_ANSWER,
) -> Answer:
    """Run one question off the event loop, logged (:func:`bot.asking.ask_logged`)."""
    return (await ask_logged(interaction, question, offset=offset, k=k)).answer


async def _report(interaction: discord.Interaction, error: Exception) -> None:
    """Hand a view error to the tree's one error handler."""
    await interaction.client.tree.on_error(interaction, error)  # type: ignore[attr-defined]


class CorpusView(discord.ui.View):
    """A view whose buttons are removed on timeout and whose errors go to the tree's one
    error handler."""

    message: Any = None  # the message carrying this view, set by whoever sends it

    async def on_timeout(self) -> None:
        if self.message is None:
            return
        try:
            await self.message.edit(view=None)
        except discord.HTTPException as exc:  # a gone message or an expired token is fine
            log.debug("could not remove buttons: %s", exc)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await _report(interaction, error)


class FeedbackButton(discord.ui.Button["AnswerView"]):
    """👍 or 👎: stored with the question, the sentences shown and the user id."""

    def __init__(self, vote: int) -> None:
        super().__init__(
            emoji="👍" if vote > 0 else "👎", style=discord.ButtonStyle.secondary, row=0
        )
        self.vote = vote

    async def callback(self, interaction: discord.Interaction) -> None:
        assert self.view is not None
        answer = self.view.answer
        await asyncio.to_thread(
            corpus_of(interaction).record_feedback,
            question=answer.question,
            sentence_ids=[hit.sentence.id for hit in answer.hits],
            user_id=str(interaction.user.id),
            vote=self.vote,
        )
        log.info(
            "feedback user=%s vote=%+d question=%r", interaction.user.id, self.vote, answer.question
        )
        await interaction.response.send_message(
            f"Thanks, your {self.emoji} was recorded.", ephemeral=True
        )


class SourceButton(discord.ui.Button["AnswerView"]):
    """Open one cited article, ephemerally, exactly as ``/source`` shows it."""

    def __init__(self, number: int, article: Article) -> None:
        super().__init__(label=f"Source [{number}]", style=discord.ButtonStyle.secondary, row=1)
        self.article = article

    async def callback(self, interaction: discord.Interaction) -> None:
        await send_article(interaction, corpus_of(interaction), self.article, ephemeral=True)


class AnswerView(CorpusView):
    """Context / More / 👍 / 👎, and one Source button per cited article."""

    def __init__(self, answer: Answer, *, timeout: float | None = ANSWER_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.answer = answer
        self.more.disabled = not answer.has_more
        self.add_item(FeedbackButton(+1))
        self.add_item(FeedbackButton(-1))
        for citation in answer.citations[:5]:  # 5 buttons per row
            self.add_item(SourceButton(citation.number, citation.article))

    @discord.ui.button(label="Context", style=discord.ButtonStyle.primary, row=0)
    async def context(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        corpus = corpus_of(interaction)
        ids = [hit.sentence.id for hit in self.answer.hits]
        contexts = await asyncio.to_thread(
            lambda: [corpus.context(sid, before=1, after=1) for sid in ids]
        )
        await interaction.response.send_message(
            embed=render.context_embed(self.answer, contexts), ephemeral=True
        )

    @discord.ui.button(label="More", style=discord.ButtonStyle.secondary, row=0)
    async def more(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        offset = self.answer.offset + len(self.answer.hits)
        answer = await ask(interaction, self.answer.question, offset=offset)
        await send_answer(interaction, answer, ephemeral=True)


async def send_answer(
    interaction: discord.Interaction, answer: Answer, *, ephemeral: bool = False
) -> None:
    """Reply with an answer (buttons only when there is something to press)."""
    embed = render.answer_embed(answer)
    if not answer.answered:
        if interaction.response.is_done():
            await interaction.followup.send(embed=embed, ephemeral=ephemeral)
        else:
            await interaction.response.send_message(embed=embed, ephemeral=ephemeral)
        return
    view = AnswerView(answer, timeout=ANSWER_TIMEOUT)
    if interaction.response.is_done():
        view.message = await interaction.followup.send(
            embed=embed, view=view, ephemeral=ephemeral, wait=True
        )
    else:
        callback = await interaction.response.send_message(
            embed=embed, view=view, ephemeral=ephemeral
        )
        view.message = callback.resource if callback is not None else None


class ArticlePager(CorpusView):
    """Previous / Next through an article's pages; only the person who opened it may turn."""

    def __init__(
        self, pages: list[discord.Embed], *, owner_id: int, timeout: float | None = PAGER_TIMEOUT
    ) -> None:
        super().__init__(timeout=timeout)
        self.pages = pages
        self.owner_id = owner_id
        self.index = 0
        self._refresh()

    def _refresh(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1
        self.counter.label = f"{self.index + 1}/{len(self.pages)}"

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "Only the person who opened this article can turn its pages; "
            "use `/source` to open your own copy.",
            ephemeral=True,
        )
        return False

    async def _show(self, interaction: discord.Interaction, index: int) -> None:
        self.index = max(0, min(index, len(self.pages) - 1))
        self._refresh()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        await self._show(interaction, self.index - 1)

    @discord.ui.button(label="1/1", style=discord.ButtonStyle.secondary, disabled=True)
    async def counter(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        """A label only (disabled): the current page."""

    @discord.ui.button(label="Next", style=discord.ButtonStyle.primary)
    async def next(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        await self._show(interaction, self.index + 1)


async def send_article(
    interaction: discord.Interaction, corpus: Corpus, article: Article, *, ephemeral: bool
) -> None:
    """Show an article in pages, with its whole text attached as a ``.txt`` file.

    Shared by ``/source`` and the Source button so both look and behave the same.
    """
    text = await asyncio.to_thread(corpus.article_text, article.id)
    pages = render.article_pages(article, text)
    file = discord.File(io.BytesIO(text.encode("utf-8")), filename=render.article_filename(article))
    kwargs: dict[str, Any] = {"embed": pages[0], "file": file, "ephemeral": ephemeral}
    pager = None
    if len(pages) > 1:
        pager = ArticlePager(pages, owner_id=interaction.user.id, timeout=PAGER_TIMEOUT)
        kwargs["view"] = pager
    if interaction.response.is_done():
        message = await interaction.followup.send(wait=True, **kwargs)
    else:
        callback = await interaction.response.send_message(**kwargs)
        message = callback.resource if callback is not None else None
    if pager is not None:
        pager.message = message
