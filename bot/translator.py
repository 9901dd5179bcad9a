"""The hook that localises command names, descriptions and option texts.

discord.py asks the tree's :class:`app_commands.Translator` for every ``locale_str`` when
the commands are synced; what it returns goes to Discord as ``*_localizations``, and each
person's client shows the text for their language. The bot speaks English only for now,
so :data:`TRANSLATIONS` is empty: add a locale's strings there (English text → text) and
sync again.
"""

from __future__ import annotations

import discord
from discord import app_commands

# Locale → {English string: translation}. Empty: every client shows the English text.
TRANSLATIONS: dict[discord.Locale, dict[str, str]] = {}


class Translator(app_commands.Translator):
    """Looks each string up in :data:`TRANSLATIONS`; None (keep the English) if absent."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        return TRANSLATIONS.get(locale, {}).get(string.message)
