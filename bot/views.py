"""Buttons and menus under answers and articles, and the replies that carry them (the
vote buttons and their form are in :mod:`bot.votes`).

Every button is a :class:`discord.ui.DynamicItem`: its whole state is in its
``custom_id`` (a question's id in the question log, an offset, an article id, a page), so
a click is served by whichever bot process receives it, after a restart too, and no
button ever times out. The ``custom_id`` formats (each at most 100 characters):

====================================  =========================================================
``cb:vote:{question}:{up|down}``      👍 Helpful / 👎 Not helpful on a logged answer
``cb:why:{question}``                 the optional "what was wrong?" form after a 👎
``cb:reason:{question}``              that form itself (answered by :func:`submit_reason`)
``cb:more:{question}[:{article}]``    the next quotes after a logged answer (in its article)
``cb:in:{question}:{article}``        a logged question asked again within one cited article
``cb:ctx:{sentence},…``               the sentences around the quoted ones
``cb:read:{article}``                 an article, privately, as ``/source`` shows it
``cb:page:{article}:{page}:{owner}``  turn an article's page (only its owner may)
``cb:share:{article}``                post a privately opened article in the channel
``cb:askabout:{article}``             opens the form of a question about an opened article
``cb:askin:{article}``                that form itself (answered by :func:`submit_question`)
``cb:pick:{0|1}``                     the menu of articles when a name matches several
====================================  =========================================================

The Discord layer stays thin: a click turns into Corpus / QueryLog calls (in a worker
thread, so heartbeats never stall) and renders the result with :mod:`bot.render`. Errors
go to the tree's one error handler.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import discord

from bot import render
from bot.asking import ask_logged
from bot.question import plain_question
from retrieval.answer import MAX_K
from retrieval.models import Answer, Article, Hit

if TYPE_CHECKING:
    from retrieval.corpus import Corpus

from bot.article_views import (
    QUESTION_FIELD,
    QUESTION_FORM,
    QUESTION_MAX,
    AskAboutButton,
    Label,
    PageButton,
    PickMenu,
    ShareButton,
    show_article,
)
from bot.interactions import (
    ANSWER_WITHIN,
    BUTTONS_PER_ROW,
    CUSTOM_ID_LIMIT,
    RESULTS_PER_ANSWER,
    ArticleButton,
    Persistent,
    ask_limit,
    corpus_of,
    querylog_of,
)
from bot.votes import ReasonButton, VoteButton, field_value

log = logging.getLogger("corpusbot.bot")
T = TypeVar("T")


# ---------------------------------------------------------------------------- the /ask limit


# ---------------------------------------------------------------------------- asking


@dataclass(frozen=True)
class Page:
    """An answer (or a page of ``More``) as shown: its id in the question log (None when
    not logged) and the citation numbers of earlier pages' articles (so ``[1]`` stays the
    same article)."""

    answer: Answer
    question_id: int | None
    numbers: dict[int, int]


async def ask(
    interaction: discord.Interaction,
    question: str,
    *,
    typed: str | None = None,
    offset: int = 0,
    k: int = RESULTS_PER_ANSWER,
    article_id: int | None = None,
) -> Page:
    """Ask ``question`` (``typed`` is how the person wrote it, for the log; ``article_id``
    the one article to search, if any), logged by :func:`bot.asking.ask_logged`, with the
    numbering of the pages before ``offset``."""
    asked = await ask_logged(
        interaction, question, typed=typed, offset=offset, k=k, article_id=article_id
    )
    numbers: dict[int, int] = {}
    if offset:
        corpus = corpus_of(interaction)
        numbers = await asyncio.to_thread(earlier_numbers, corpus, question, offset, article_id)
    return Page(asked.answer, asked.question_id, numbers)


def earlier_numbers(
    corpus: Corpus, question: str, offset: int, article_id: int | None = None
) -> dict[int, int]:
    """The citation numbers of the articles quoted before ``offset``: those pages are read
    again (the same ranking, at most ``MAX_K`` quotes a call)."""
    earlier: list[Hit] = []
    while (done := len(earlier)) < offset:
        k = min(MAX_K, offset - done)
        page = corpus.ask(question, k=k, offset=done, article_id=article_id)
        earlier += page.hits
        if not page.hits:
            break
    return render.citation_numbers(earlier)


# How many searches may run before a first response. More would only queue for the worker
# threads (a handful on a small machine) and, while queued, make every one of them late:
# beyond these, a question is deferred first and searched after.
SEARCHES_AT_ONCE = 4
_searching = 0


async def answer_first(
    interaction: discord.Interaction,
    work: Callable[[], Awaitable[T]],
    *,
    ephemeral: bool,
) -> tuple[T, bool]:
    """Run ``work()`` and return its result and whether the interaction was deferred.

    When the bot is not busy the search starts at once and, if it ends within
    :data:`ANSWER_WITHIN`, its result can be the first response (private or not, as it
    turns out). A slower search, or any search while :data:`SEARCHES_AT_ONCE` run already,
    is deferred first (privately when ``ephemeral``), so Discord's 3-second limit holds and
    a burst's first responses are not held up by the searches themselves."""
    global _searching
    if _searching >= SEARCHES_AT_ONCE:
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        return await work(), True
    _searching += 1
    try:
        task = asyncio.ensure_future(work())
        try:
            return await asyncio.wait_for(asyncio.shield(task), ANSWER_WITHIN), False
        except TimeoutError:
            await interaction.response.defer(ephemeral=ephemeral, thinking=True)
            return await task, True
    finally:
        _searching -= 1


def answer_view(page: Page) -> discord.ui.View | None:
    """The buttons under an answer: votes, Context and More on the first row, a Read
    button per cited article, and a link button per article with a web address.

    When the question speaks of one article without naming it ("this study"), a fourth
    row asks it again within each cited article (*Only in [n]*).

    Votes, More and Only in need the question log (a vote is kept with its answer; the
    others read the question back from it): when the log is off they are not offered."""
    answer, question_id = page.answer, page.question_id
    if not answer.answered:
        return None
    view = discord.ui.View(timeout=None)
    if question_id is not None:
        view.add_item(VoteButton(question_id, +1))
        view.add_item(VoteButton(question_id, -1))
    context = ContextButton([hit.sentence.id for hit in answer.hits])
    if len(context.custom_id) <= CUSTOM_ID_LIMIT:
        view.add_item(context)
    if question_id is not None and answer.has_more:
        view.add_item(MoreButton(question_id, answer.within.id if answer.within else None))
    order = render.page_numbers(answer, page.numbers)
    cited = list({hit.article.id: hit.article for hit in answer.hits}.values())
    single = not render.shows_numbers(answer, order)
    for article in cited[:BUTTONS_PER_ROW]:
        label = "Read the article" if single else f"Read [{order[article.id]}]"
        view.add_item(ReadButton(article.id, label=label))
    for article in [a for a in cited if render.link_url(a)][:BUTTONS_PER_ROW]:
        label = "Website" if single else f"Website [{order[article.id]}]"
        view.add_item(
            discord.ui.Button(
                style=discord.ButtonStyle.link, label=label, url=render.link_url(article), row=2
            )
        )
    if question_id is not None and answer.unnamed_article:
        for article in cited[:BUTTONS_PER_ROW]:
            label = "Only in this article" if single else f"Only in [{order[article.id]}]"
            view.add_item(WithinButton(question_id, article.id, label=label))
    return view


async def send_answer(
    interaction: discord.Interaction, page: Page, *, deferred: bool, public: bool = True
) -> None:
    """Send an answer: in the channel when it answers (``public``), privately otherwise.

    ``deferred`` says the interaction was deferred privately first (the answer was slow):
    the "thinking…" message is private, so a public answer goes out as a follow-up and
    the private placeholder is removed."""
    answer = page.answer
    embed = render.answer_embed(answer, page.numbers)
    view = answer_view(page)
    kwargs: dict[str, Any] = {"embed": embed}
    if view is not None:
        kwargs["view"] = view
    private = not (answer.answered and public)
    if not deferred:
        await interaction.response.send_message(ephemeral=private, **kwargs)
        return
    if private:
        await interaction.followup.send(ephemeral=True, **kwargs)  # replaces the "thinking…"
        return
    # The first follow-up would replace the private "thinking…" (and stay private): say
    # it is done there, post the answer for everyone, then remove the placeholder.
    await interaction.edit_original_response(content="Here is your answer.")
    await interaction.followup.send(**kwargs)
    try:
        await interaction.delete_original_response()
    except discord.HTTPException as exc:
        log.debug("could not remove the placeholder: %s", exc)


# ---------------------------------------------------------------------------- buttons


async def ask_again(
    interaction: discord.Interaction,
    question_id: int,
    *,
    next_page: bool,
    article_id: int | None,
    too_old: str,
) -> Page | None:
    """The logged question ``question_id`` asked again as ``/ask`` asked it (the log
    keeps it as typed): its next page, or from the start within ``article_id``. None,
    after saying ``too_old`` privately, when the log no longer has it. The interaction
    must be deferred already."""
    querylog = querylog_of(interaction)
    asked = await asyncio.to_thread(querylog.get, question_id) if querylog else None
    if asked is None:
        await interaction.followup.send(too_old, ephemeral=True)
        return None
    return await ask(
        interaction,
        plain_question(asked.question),
        typed=asked.question,
        k=asked.k,
        offset=asked.offset + len(asked.shown) if next_page else 0,
        article_id=article_id,
    )


def page_message(page: Page) -> tuple[discord.Embed, discord.ui.View]:
    """A private page's embed and buttons (an empty view when it has none, so an edit
    takes the old buttons away)."""
    view = answer_view(page) or discord.ui.View(timeout=None)
    return render.answer_embed(page.answer, page.numbers), view


class MoreButton(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:more:(?P<question>\d{1,19})(?::(?P<article>\d{1,19}))?",
):
    """The next quotes that pass the relevance cut, in a private message that later
    ``More`` presses edit in place. It counts against the person's ``/ask`` limit. An
    answer asked within one article carries that article's id: its pages stay there."""

    def __init__(self, question_id: int, article_id: int | None = None) -> None:
        within = "" if article_id is None else f":{article_id}"
        super().__init__(
            discord.ui.Button(
                label="More",
                style=discord.ButtonStyle.primary,
                custom_id=f"cb:more:{question_id}{within}",
                row=0,
            )
        )
        self.question_id = question_id
        self.article_id = article_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> MoreButton:
        article = match["article"]
        return cls(int(match["question"]), None if article is None else int(article))

    async def run(self, interaction: discord.Interaction) -> None:
        ask_limit(interaction)
        in_place = bool(interaction.message and interaction.message.flags.ephemeral)
        # Defer at once: the log read and the search together may outlast 3 seconds.
        if in_place:
            await interaction.response.defer()  # then edit this private page
        else:
            await interaction.response.defer(ephemeral=True, thinking=True)
        page = await ask_again(
            interaction,
            self.question_id,
            next_page=True,
            article_id=self.article_id,
            too_old="That answer is too old to page on; ask again with /ask.",
        )
        if page is None:
            return
        embed, view = page_message(page)
        if in_place:
            await interaction.edit_original_response(embed=embed, view=view)
        else:
            await interaction.followup.send(embed=embed, view=view, ephemeral=True)


class WithinButton(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:in:(?P<question>\d{1,19}):(?P<article>\d{1,19})",
):
    """A logged question asked again within one cited article, privately; it counts
    against the person's ``/ask`` limit."""

    def __init__(self, question_id: int, article_id: int, *, label: str = "Only in") -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"cb:in:{question_id}:{article_id}",
                row=3,
            )
        )
        self.question_id, self.article_id = question_id, article_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> WithinButton:
        return cls(int(match["question"]), int(match["article"]), label=item.label or "Only in")

    async def run(self, interaction: discord.Interaction) -> None:
        ask_limit(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        page = await ask_again(
            interaction,
            self.question_id,
            next_page=False,
            article_id=self.article_id,
            too_old="That answer is too old to ask again; use /ask with its article option.",
        )
        if page is not None:
            embed, view = page_message(page)
            await interaction.followup.send(embed=embed, view=view, ephemeral=True)


class ContextButton(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:ctx:(?P<ids>\d{1,19}(?:,\d{1,19}){0,9})",
):
    """The sentences around the quoted ones, overlapping passages merged, privately."""

    def __init__(self, sentence_ids: list[int]) -> None:
        super().__init__(
            discord.ui.Button(
                label="Context",
                style=discord.ButtonStyle.secondary,
                custom_id="cb:ctx:" + ",".join(map(str, sentence_ids)),
                row=0,
            )
        )
        self.sentence_ids = sentence_ids

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> ContextButton:
        return cls([int(i) for i in match["ids"].split(",")])

    async def run(self, interaction: discord.Interaction) -> None:
        corpus = corpus_of(interaction)

        def work() -> tuple[list, dict[int, Article]]:
            passages = corpus.contexts(self.sentence_ids, before=1, after=1)
            ids = sorted({p[0].article_id for p in passages if p})
            return passages, {a.id: a for a in corpus.articles(ids)}

        passages, articles = await asyncio.to_thread(work)
        embed = render.context_embed(passages, self.sentence_ids, articles)
        await interaction.response.send_message(embed=embed, ephemeral=True)


class ReadButton(ArticleButton, template=r"cb:read:(?P<article>\d{1,19})"):
    """Open a cited article privately, exactly as ``/source`` shows it."""

    kind, label = "read", "Read"

    async def run(self, interaction: discord.Interaction) -> None:
        await show_article(interaction, self.article_id, public=False)


async def submit_question(interaction: discord.Interaction) -> bool:
    """Answer a submitted *Ask about it* form within its article, privately; False when
    ``interaction`` is not such a form. It counts against the person's ``/ask`` limit."""
    data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
    match = QUESTION_FORM.fullmatch(str(data.get("custom_id", "")))
    if interaction.type is not discord.InteractionType.modal_submit or match is None:
        return False
    ask_limit(interaction)
    typed = field_value(data.get("components") or [], QUESTION_FIELD) or ""
    plain = plain_question(typed[:QUESTION_MAX])
    if not plain:
        await interaction.response.send_message(render.EMPTY_QUESTION, ephemeral=True)
        return True
    article_id = int(match["article"])
    page, deferred = await answer_first(
        interaction,
        lambda: ask(interaction, plain, typed=typed, article_id=article_id),
        ephemeral=True,
    )
    await send_answer(interaction, page, deferred=deferred, public=False)
    return True


PERSISTENT_ITEMS = (
    VoteButton,
    ReasonButton,
    MoreButton,
    WithinButton,
    AskAboutButton,
    ContextButton,
    ReadButton,
    PageButton,
    ShareButton,
    PickMenu,
    Label,
)
