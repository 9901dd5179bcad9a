"""Bot configuration from the environment (and a ``.env`` file in the working directory).

Every setting is documented in ``.env.example``. The token is kept out of ``repr`` so it
can never end up in a log line or a traceback by accident.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import find_dotenv, load_dotenv

from retrieval.settings import DEFAULT_DB

API_VERSION = 10


class ConfigError(Exception):
    """A setting is missing or malformed; ``str(err)`` is one line for the console."""


@dataclass(frozen=True)
class Config:
    """What the bot needs to run. Build it with :func:`load_config`."""

    token: str = field(repr=False)
    guild_id: int | None = None
    db_path: Path = DEFAULT_DB
    api_base: str | None = None  # e.g. http://127.0.0.1:8080/api/v10; None means Discord
    gateway_url: str | None = None  # e.g. ws://127.0.0.1:8080/gateway; None means Discord
    # Gateway sharding (docs/sharding.md): None runs one unsharded connection.
    gateway_shard_count: int | None = None
    gateway_shard_ids: tuple[int, ...] | None = None  # this process's; None: all of them


def _normalise_api_base(value: str) -> str:
    """Accept ``http://host:port`` or ``.../api`` or ``.../api/v10``; return the versioned base.

    discord.py appends route paths (``/users/@me``) to this base, so it must end at the version.
    """
    base = value.rstrip("/")
    if re.search(r"/api/v\d+$", base):
        return base
    if base.endswith("/api"):
        return f"{base}/v{API_VERSION}"
    return f"{base}/api/v{API_VERSION}"


def load_env_file() -> None:
    """Load ``.env`` from the working directory (or the nearest parent holding one);
    variables already set in the environment win over the file."""
    # usecwd: look next to where the bot is started, not next to this module.
    load_dotenv(find_dotenv(usecwd=True), override=False)


def load_config(
    environ: Mapping[str, str] | None = None, *, require_token: bool = True, dotenv: bool = True
) -> Config:
    """Read the settings; raise :class:`ConfigError` with a one-line message when unusable.

    ``environ`` defaults to ``os.environ`` after loading ``.env`` from the working directory
    (variables already set in the environment win over the file).
    """
    if environ is None:
        if dotenv:
            load_env_file()
        environ = os.environ

    token = (environ.get("DISCORD_TOKEN") or "").strip()
    if require_token and not token:
        raise ConfigError(
            "DISCORD_TOKEN is not set: put the bot token in .env or the environment "
            "(see .env.example)."
        )

    if token and not re.fullmatch(r"[\x21-\x7e]+", token):
        # Never echo it: say what is wrong, not what it is.
        raise ConfigError(
            "DISCORD_TOKEN contains spaces, line breaks or non-ASCII characters; "
            "copy the bot token again from the Developer Portal."
        )

    raw_guild = (environ.get("DISCORD_GUILD_ID") or "").strip()
    guild_id: int | None = None
    if raw_guild:
        if not raw_guild.isdigit():
            raise ConfigError(f"DISCORD_GUILD_ID must be a numeric server id, not {raw_guild!r}.")
        guild_id = int(raw_guild)

    db = (environ.get("CORPUSBOT_DB") or "").strip()
    api_base = (environ.get("DISCORD_API_BASE") or "").strip() or None
    gateway = (environ.get("DISCORD_GATEWAY_URL") or "").strip() or None
    if api_base and not api_base.startswith(("http://", "https://")):
        raise ConfigError(f"DISCORD_API_BASE must be an http(s) URL, not {api_base!r}.")
    if gateway and not gateway.startswith(("ws://", "wss://")):
        raise ConfigError(f"DISCORD_GATEWAY_URL must be a ws(s) URL, not {gateway!r}.")

    shard_count, shard_ids = _gateway_shards(environ)
    return Config(
        token=token,
        guild_id=guild_id,
        db_path=Path(db) if db else DEFAULT_DB,
        api_base=_normalise_api_base(api_base) if api_base else None,
        gateway_url=gateway,
        gateway_shard_count=shard_count,
        gateway_shard_ids=shard_ids,
    )


def _gateway_shards(environ: Mapping[str, str]) -> tuple[int | None, tuple[int, ...] | None]:
    """``DISCORD_SHARD_COUNT`` and ``DISCORD_SHARD_IDS`` (comma-separated, each below it)."""
    raw_count = (environ.get("DISCORD_SHARD_COUNT") or "").strip()
    raw_ids = (environ.get("DISCORD_SHARD_IDS") or "").strip()
    if not raw_count:
        if raw_ids:
            raise ConfigError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the total).")
        return None, None
    if not raw_count.isdigit() or int(raw_count) < 1:
        raise ConfigError(f"DISCORD_SHARD_COUNT must be a positive number, not {raw_count!r}.")
    count = int(raw_count)
    if not raw_ids:
        return count, None
    items = [i.strip() for i in raw_ids.split(",")]
    if not all(i.isdigit() and int(i) < count for i in items) or len(set(items)) != len(items):
        raise ConfigError(
            f"DISCORD_SHARD_IDS must be distinct numbers from 0 to {count - 1}, not {raw_ids!r}."
        )
    return count, tuple(int(i) for i in items)
