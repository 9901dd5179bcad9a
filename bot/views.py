"""Buttons and menus under answers and articles, and the replies that carry them.

Every button is a :class:`discord.ui.DynamicItem`: its whole state is in its
``custom_id`` (a question's id in the question log, an offset, an article id, a page), so
a click is served by whichever bot process receives it, after a restart too, and no
button ever times out. The ``custom_id`` formats (each at most 100 characters):

=============================  =========================================================
``cb:vote:{question}:{up|down}``  👍 Helpful / 👎 Not helpful on a logged answer
``cb:why:{question}``          the optional "what was wrong?" form after a 👎
``cb:reason:{question}``       that form itself (answered by :func:`submit_reason`)
``cb:more:{question}``         the next quotes after a logged answer (or ``More`` page)
``cb:ctx:{sentence},…``        the sentences around the quoted ones
``cb:read:{article}``          an article, privately, as ``/source`` shows it
``cb:page:{article}:{page}:{owner}``  turn an article's page (only its owner may)
``cb:share:{article}``         post a privately opened article in the channel
``cb:pick:{0|1}``              the menu of articles when a name matches several
=============================  =========================================================

The Discord layer stays thin: a click turns into Corpus / QueryLog calls (in a worker
thread, so heartbeats never stall) and renders the result with :mod:`bot.render`. Errors
go to the tree's one error handler.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot import render
from bot.asking import ask_logged
from bot.question import plain_question
from retrieval.answer import MAX_K
from retrieval.errors import StoreError
from retrieval.models import Answer, Article, Hit

if TYPE_CHECKING:
    from retrieval.corpus import Corpus
    from retrieval.querylog import QueryLog

log = logging.getLogger("corpusbot.bot")
T = TypeVar("T")

RESULTS_PER_ANSWER = 3
CUSTOM_ID_LIMIT = 100  # Discord: a component's custom_id is 1–100 characters
BUTTONS_PER_ROW = 5
# An answer found within this many seconds is sent as the first response (a not-found or
# a mistake privately); a slower one is deferred first. Discord allows 3 s for the first
# response; the rest is left for the request itself on a busy machine.
ANSWER_WITHIN = 1.0
REASON_LIMIT = 300


def corpus_of(interaction: discord.Interaction) -> Corpus:
    """The bot's Corpus (one per process, thread-safe)."""
    return interaction.client.corpus  # type: ignore[attr-defined]


def querylog_of(interaction: discord.Interaction) -> QueryLog | None:
    """The bot's question log, or None when it keeps none (``CORPUSBOT_QUERY_LOG=off``)."""
    found = getattr(interaction.client, "query_log", None)
    return found if found is not None and found.enabled else None


# ---------------------------------------------------------------------------- the /ask limit


class AskLimit:
    """``rate`` questions per ``per`` seconds a person, shared by ``/ask`` and ``More``
    (``app_commands.checks.cooldown`` keeps one bucket a command; both must use one)."""

    def __init__(self, rate: int, per: float) -> None:
        self.rate, self.per = rate, per
        self._buckets: dict[int, app_commands.Cooldown] = {}

    def check(self, interaction: discord.Interaction) -> bool:
        """Count one question; raise :class:`app_commands.CommandOnCooldown` when over."""
        if len(self._buckets) > 10_000:  # forget people whose allowance is whole again
            self._buckets = {u: b for u, b in self._buckets.items() if b.get_tokens() < b.rate}
        bucket = self._buckets.setdefault(
            interaction.user.id, app_commands.Cooldown(self.rate, self.per)
        )
        retry_after = bucket.update_rate_limit()
        if retry_after:
            raise app_commands.CommandOnCooldown(bucket, retry_after)
        return True


def ask_limit(interaction: discord.Interaction) -> bool:
    """The app-command check for ``/ask`` (and the first thing ``More`` does)."""
    return interaction.client.ask_limit.check(interaction)  # type: ignore[attr-defined]


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
) -> Page:
    """Ask ``question`` (``typed`` is how the person wrote it, for the log), logged by
    :func:`bot.asking.ask_logged`, with the numbering of the pages before ``offset``."""
    asked = await ask_logged(interaction, question, typed=typed, offset=offset, k=k)
    numbers: dict[int, int] = {}
    if offset:
        corpus = corpus_of(interaction)
        numbers = await asyncio.to_thread(earlier_numbers, corpus, question, offset)
    return Page(asked.answer, asked.question_id, numbers)


def earlier_numbers(corpus: Corpus, question: str, offset: int) -> dict[int, int]:
    """The citation numbers of the articles quoted before ``offset``: those pages are read
    again (the same ranking, at most ``MAX_K`` quotes a call)."""
    earlier: list[Hit] = []
    while len(earlier) < offset:
        page = corpus.ask(question, k=min(MAX_K, offset - len(earlier)), offset=len(earlier))
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

    Votes and More need the question log (a vote is kept with its answer; More reads the
    question back from it): when the log is off they are not offered."""
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
        view.add_item(MoreButton(question_id))
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


class Persistent:
    """A dynamic item whose failures reach the tree's one error handler (discord.py
    would only log them, and the person would see "This interaction failed")."""

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.run(interaction)
        except Exception as error:
            await interaction.client.tree.on_error(interaction, error)  # type: ignore[attr-defined]

    async def run(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError


VOTES = {+1: ("👍", "Helpful"), -1: ("👎", "Not helpful")}


class VoteButton(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:vote:(?P<question>\d{1,19}):(?P<vote>up|down)",
):
    """👍 Helpful / 👎 Not helpful: one vote a person an answer; a second click changes it."""

    def __init__(self, question_id: int, vote: int) -> None:
        emoji, label = VOTES[vote]
        super().__init__(
            discord.ui.Button(
                label=f"{emoji} {label}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"cb:vote:{question_id}:{'up' if vote > 0 else 'down'}",
                row=0,
            )
        )
        self.question_id, self.vote = question_id, vote

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> VoteButton:
        return cls(int(match["question"]), +1 if match["vote"] == "up" else -1)

    async def run(self, interaction: discord.Interaction) -> None:
        querylog = querylog_of(interaction)
        emoji, label = VOTES[self.vote]
        if querylog is None:  # the log was turned off since this answer was sent
            await interaction.response.send_message(
                "Votes are not being kept right now.", ephemeral=True
            )
            return
        try:
            status = await asyncio.to_thread(
                querylog.vote, self.question_id, interaction.user.id, self.vote
            )
        except StoreError as exc:
            log.warning("vote not saved user=%s: %s", interaction.user.id, exc)
            await interaction.response.send_message(
                "Sorry, your vote could not be saved right now. Please try again later.",
                ephemeral=True,
            )
            return
        log.info(
            "vote user=%s question=%s vote=%+d %s",
            interaction.user.id,
            self.question_id,
            self.vote,
            status,
        )
        text = {
            "recorded": f"Thanks! Your vote: {emoji} {label}.",
            "changed": f"Changed to {emoji} {label}.",
            "unchanged": f"You already voted {emoji} {label}.",
        }.get(status, "This answer is too old to vote on; ask again with /ask.")
        view = None
        if self.vote < 0 and status in ("recorded", "changed", "unchanged"):
            view = discord.ui.View(timeout=None)
            view.add_item(ReasonButton(self.question_id))
            text += " If you like, tell us what was wrong."
        kwargs: dict[str, Any] = {"view": view} if view is not None else {}
        await interaction.response.send_message(text, ephemeral=True, **kwargs)


class ReasonButton(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:why:(?P<question>\d{1,19})",
):
    """Opens the optional "what was wrong?" form for a 👎."""

    def __init__(self, question_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Say what was wrong",
                style=discord.ButtonStyle.secondary,
                custom_id=f"cb:why:{question_id}",
            )
        )
        self.question_id = question_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> ReasonButton:
        return cls(int(match["question"]))

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(reason_form(self.question_id))


REASON_FORM = re.compile(r"cb:reason:(?P<question>\d{1,19})")
REASON_FIELD = "reason"


def reason_form(question_id: int) -> discord.ui.Modal:
    """The optional "what was wrong?" form. It is stopped before it is sent, so discord.py
    keeps nothing in memory for it: :func:`submit_reason` answers it from its ``custom_id``,
    in whichever process receives it (after a restart too)."""
    form = discord.ui.Modal(
        title="What was wrong with this answer?", custom_id=f"cb:reason:{question_id}"
    )
    form.add_item(
        discord.ui.TextInput(
            label="What was wrong? (optional)",
            custom_id=REASON_FIELD,
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=REASON_LIMIT,
            placeholder="For example: it quotes the wrong year; the article is off-topic.",
        )
    )
    form.stop()
    return form


def _field_value(components: list[dict[str, Any]], custom_id: str) -> str | None:
    for component in components:
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component["value"])
        if found := _field_value(component.get("components") or [], custom_id):
            return found
        if (inner := component.get("component")) and (found := _field_value([inner], custom_id)):
            return found
    return None


async def submit_reason(interaction: discord.Interaction) -> bool:
    """Store the reason of a submitted "what was wrong?" form with the person's 👎; False
    when ``interaction`` is not such a form."""
    data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
    match = REASON_FORM.fullmatch(str(data.get("custom_id", "")))
    if interaction.type is not discord.InteractionType.modal_submit or match is None:
        return False
    question_id = int(match["question"])
    reason = (_field_value(data.get("components") or [], REASON_FIELD) or "").strip() or None
    querylog = querylog_of(interaction)
    try:
        if querylog is not None:
            await asyncio.to_thread(querylog.vote, question_id, interaction.user.id, -1, reason)
    except StoreError as exc:
        log.warning("reason not saved user=%s: %s", interaction.user.id, exc)
        await interaction.response.send_message(
            "Sorry, that could not be saved right now.", ephemeral=True
        )
        return True
    await interaction.response.send_message(
        "Thanks, that helps." if reason else "Thanks, your 👎 stays recorded.", ephemeral=True
    )
    return True


class MoreButton(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:more:(?P<question>\d{1,19})",
):
    """The next quotes that pass the relevance cut, in a private message that later
    ``More`` presses edit in place. It counts against the person's ``/ask`` limit."""

    def __init__(self, question_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="More",
                style=discord.ButtonStyle.primary,
                custom_id=f"cb:more:{question_id}",
                row=0,
            )
        )
        self.question_id = question_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> MoreButton:
        return cls(int(match["question"]))

    async def run(self, interaction: discord.Interaction) -> None:
        ask_limit(interaction)
        in_place = bool(interaction.message and interaction.message.flags.ephemeral)
        # Defer at once: the log read and the search together may outlast 3 seconds.
        if in_place:
            await interaction.response.defer()  # then edit this private page
        else:
            await interaction.response.defer(ephemeral=True, thinking=True)
        querylog = querylog_of(interaction)
        shown = await asyncio.to_thread(querylog.get, self.question_id) if querylog else None
        if shown is None:
            await interaction.followup.send(
                "That answer is too old to page on; ask again with /ask.", ephemeral=True
            )
            return
        # The log keeps the question as typed; it is searched as /ask searched it.
        page = await ask(
            interaction,
            plain_question(shown.question),
            typed=shown.question,
            k=shown.k,
            offset=shown.offset + len(shown.shown),
        )
        embed = render.answer_embed(page.answer, page.numbers)
        view = answer_view(page) or discord.ui.View(timeout=None)
        if in_place:
            await interaction.edit_original_response(embed=embed, view=view)
        else:
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


class ReadButton(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:read:(?P<article>\d{1,19})",
):
    """Open a cited article privately, exactly as ``/source`` shows it."""

    def __init__(self, article_id: int, *, label: str = "Read") -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"cb:read:{article_id}",
                row=1,
            )
        )
        self.article_id = article_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> ReadButton:
        return cls(int(match["article"]), label=item.label or "Read")

    async def run(self, interaction: discord.Interaction) -> None:
        await show_article(interaction, self.article_id, public=False)


class PageButton(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:page:(?P<article>\d{1,19}):(?P<page>\d{1,5}):(?P<owner>\d{1,20})",
):
    """Previous / Next through an article's pages; only the person who opened it may turn."""

    def __init__(self, article_id: int, page: int, owner_id: int, *, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.secondary,
                custom_id=f"cb:page:{article_id}:{page}:{owner_id}",
                row=0,
            )
        )
        self.article_id, self.page, self.owner_id = article_id, page, owner_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> PageButton:
        return cls(
            int(match["article"]),
            int(match["page"]),
            int(match["owner"]),
            label=item.label or "Page",
        )

    async def run(self, interaction: discord.Interaction) -> None:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                "Only the person who opened this article can turn its pages; "
                "use /source to open your own copy.",
                ephemeral=True,
            )
            return
        opened = await open_article(interaction, self.article_id)
        if opened is None:
            await interaction.response.send_message(ARTICLE_GONE, ephemeral=True)
            return
        page = max(0, min(self.page, len(opened.pages) - 1))
        shareable = bool(interaction.message and interaction.message.flags.ephemeral)
        await interaction.response.edit_message(
            embed=opened.pages[page],
            view=article_view(opened, page, self.owner_id, shareable=shareable),
        )


class ShareButton(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:share:(?P<article>\d{1,19})",
):
    """Post an article opened privately in the channel, for everyone."""

    def __init__(self, article_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Share in channel",
                style=discord.ButtonStyle.primary,
                custom_id=f"cb:share:{article_id}",
                row=1,
            )
        )
        self.article_id = article_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> ShareButton:
        return cls(int(match["article"]))

    async def run(self, interaction: discord.Interaction) -> None:
        await show_article(interaction, self.article_id, public=True)


class PickMenu(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Select],
    template=r"cb:pick:(?P<public>[01])",
):
    """ "Several articles match — pick one": a menu of the candidates (value: article id)."""

    def __init__(self, articles: list[Article], *, public: bool) -> None:
        options = [
            discord.SelectOption(
                label=render.option_label(a),
                description=render.option_description(a),
                value=str(a.id),
            )
            for a in articles[:25]
        ] or [discord.SelectOption(label="-", value="0")]
        super().__init__(
            discord.ui.Select(
                custom_id=f"cb:pick:{int(public)}",
                placeholder="Pick an article",
                options=options,
            )
        )
        self.public = public

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Select, match: re.Match[str], /
    ) -> PickMenu:
        return cls([], public=match["public"] == "1")

    async def run(self, interaction: discord.Interaction) -> None:
        values = (interaction.data or {}).get("values") or []
        if not values or not str(values[0]).isdigit():
            await interaction.response.send_message(ARTICLE_GONE, ephemeral=True)
            return
        article_id = int(values[0])
        if self.public:
            await show_article(interaction, article_id, public=True)
        else:
            await show_article(interaction, article_id, public=False, replace=True)


class Label(
    Persistent,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cb:at:(?P<what>[0-9a-z:]{1,60})",
):
    """A disabled button that only shows something (the page number, an end of the pages).

    Dynamic like the others so that no message's view has to be kept in memory: discord.py
    keeps a view with any other kind of button until it times out, and these never do."""

    def __init__(self, label: str, custom_id: str) -> None:
        super().__init__(discord.ui.Button(label=label, disabled=True, custom_id=custom_id, row=0))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> Label:
        return cls(item.label or "-", item.custom_id or f"cb:at:{match['what']}")

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()  # disabled: Discord never sends a press


PERSISTENT_ITEMS = (
    VoteButton,
    ReasonButton,
    MoreButton,
    ContextButton,
    ReadButton,
    PageButton,
    ShareButton,
    PickMenu,
    Label,
)


# ---------------------------------------------------------------------------- articles

ARTICLE_GONE = "That article is no longer in the corpus; use /source to find another."


@dataclass(frozen=True)
class OpenedArticle:
    article: Article
    pages: list[discord.Embed]
    raw: str | None  # the stored text, when it differs from what the pages show


async def open_article(interaction: discord.Interaction, article_id: int) -> OpenedArticle | None:
    """An article's cleaned pages (and its raw text when that differs), or None if gone."""
    corpus = corpus_of(interaction)

    def work() -> OpenedArticle | None:
        match = corpus.find_source(str(article_id))
        if match.article is None or match.article.id != article_id:
            return None
        text = corpus.article_text(article_id)
        body = corpus.article_body(article_id) or text
        differs = " ".join(body.split()) != " ".join(text.split())
        return OpenedArticle(
            match.article, render.article_pages(match.article, body), text if differs else None
        )

    return await asyncio.to_thread(work)


def article_view(
    opened: OpenedArticle, page: int, owner_id: int, *, shareable: bool
) -> discord.ui.View | None:
    """Previous / page / Next when there are several pages, Share when it is private, and
    a link to the original when the article has a web address."""
    view = discord.ui.View(timeout=None)
    count = len(opened.pages)
    article = opened.article
    if count > 1:
        view.add_item(_page_button(article.id, page - 1, count, owner_id, "Previous"))
        view.add_item(Label(f"{page + 1}/{count}", f"cb:at:{article.id}:page"))
        view.add_item(_page_button(article.id, page + 1, count, owner_id, "Next"))
    if shareable:
        view.add_item(ShareButton(article.id))
    if url := render.link_url(article):
        view.add_item(
            discord.ui.Button(style=discord.ButtonStyle.link, label="Website", url=url, row=1)
        )
    return view if view.children else None


def _page_button(
    article_id: int, target: int, count: int, owner_id: int, label: str
) -> discord.ui.Item[Any]:
    """A button to page ``target``; past either end, a disabled one that goes nowhere."""
    if 0 <= target < count:
        return PageButton(article_id, target, owner_id, label=label)
    # Two buttons of one message may not share a custom_id: the label tells them apart.
    return Label(label, f"cb:at:{article_id}:{label.lower()}")


async def show_article(
    interaction: discord.Interaction, article_id: int, *, public: bool, replace: bool = False
) -> None:
    """Show an article: privately (with a Share button) or in the channel; ``replace``
    turns the message the interaction came from (a menu) into the article."""
    opened = await open_article(interaction, article_id)
    if opened is None:
        await interaction.response.send_message(ARTICLE_GONE, ephemeral=True)
        return
    await send_article(interaction, opened, public=public, replace=replace)


async def send_article(
    interaction: discord.Interaction,
    opened: OpenedArticle,
    *,
    public: bool,
    replace: bool = False,
) -> None:
    """The first page, its buttons, and the stored text as a ``.txt`` when it differs."""
    view = article_view(opened, 0, interaction.user.id, shareable=not public)
    files = []
    if opened.raw is not None:
        data = io.BytesIO(opened.raw.encode("utf-8"))
        files.append(discord.File(data, filename=render.article_filename(opened.article)))
    kwargs: dict[str, Any] = {"embed": opened.pages[0]}
    if view is not None:
        kwargs["view"] = view
    if replace:
        await interaction.response.edit_message(content=None, attachments=files, **kwargs)
    elif interaction.response.is_done():
        await interaction.followup.send(files=files, ephemeral=not public, **kwargs)
    else:
        await interaction.response.send_message(files=files, ephemeral=not public, **kwargs)
