r"""An article as the bot shows it: ``/source``'s pages with *Previous* / *Next*, *Share in
channel*, the menu of articles when a name matches several, and the ``.txt`` of the stored
text. The buttons are :class:`discord.ui.DynamicItem`\ s like those under answers
(:mod:`bot.views` lists every ``custom_id``); reads run in a worker thread."""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass
from typing import Any

import discord

from bot import render
from bot.interactions import ArticleButton, Persistent, corpus_of
from retrieval.models import Article

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
    """Previous / page / Next when there are several pages, *Ask about it*, Share when it
    is private, and a link to the original when the article has a web address."""
    view = discord.ui.View(timeout=None)
    count = len(opened.pages)
    article = opened.article
    if count > 1:
        view.add_item(_page_button(article.id, page - 1, count, owner_id, "Previous"))
        view.add_item(Label(f"{page + 1}/{count}", f"cb:at:{article.id}:page"))
        view.add_item(_page_button(article.id, page + 1, count, owner_id, "Next"))
    view.add_item(AskAboutButton(article.id))
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


class ShareButton(ArticleButton, template=r"cb:share:(?P<article>\d{1,19})"):
    """Post an article opened privately in the channel, for everyone."""

    kind, label, style = "share", "Share in channel", discord.ButtonStyle.primary

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


class AskAboutButton(ArticleButton, template=r"cb:askabout:(?P<article>\d{1,19})"):
    """Opens a form for a question about this article (answered within it, privately:
    :func:`bot.views.submit_question`)."""

    kind, label = "askabout", "Ask about it"

    async def run(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(question_form(self.article_id))


QUESTION_FORM = re.compile(r"cb:askin:(?P<article>\d{1,19})")
QUESTION_FIELD = "question"
QUESTION_MAX = 300


def question_form(article_id: int) -> discord.ui.Modal:
    """The form of *Ask about it*. Stopped before it is sent, like the 👎 reason form, so
    nothing stays in memory: its ``custom_id`` names the article."""
    form = discord.ui.Modal(title="Ask about this article", custom_id=f"cb:askin:{article_id}")
    form.add_item(
        discord.ui.TextInput(
            label="Your question",
            custom_id=QUESTION_FIELD,
            style=discord.TextStyle.short,
            min_length=1,
            max_length=QUESTION_MAX,
            placeholder="For example: what are its conclusions?",
        )
    )
    form.stop()
    return form
