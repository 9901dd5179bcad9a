"""The 👍 / 👎 buttons under an answer and the optional form that asks what was wrong:
one vote a person an answer, kept in the question log."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import discord

from bot.interactions import REASON_LIMIT, Persistent, querylog_of
from retrieval.errors import StoreError

log = logging.getLogger("corpusbot.bot")

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


def field_value(components: list[dict[str, Any]], custom_id: str) -> str | None:
    for component in components:
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component["value"])
        if found := field_value(component.get("components") or [], custom_id):
            return found
        if (inner := component.get("component")) and (found := field_value([inner], custom_id)):
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
    reason = (field_value(data.get("components") or [], REASON_FIELD) or "").strip() or None
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
