"""A small fake Discord (REST + gateway websocket) on 127.0.0.1, for testing the bot offline.

It speaks just enough of Discord's API v10 for a slash-command bot built on discord.py 2.7:

* REST: ``GET /users/@me``, ``GET /oauth2/applications/@me``, ``PUT`` (guild) commands for
  sync, ``POST /interactions/{id}/{token}/callback?with_response=1`` and the follow-up
  webhooks ``POST/PATCH/GET/DELETE /webhooks/{app}/{token}[/messages/{id}]`` (JSON or
  multipart with files). Everything is recorded so tests can assert on exact payloads.
* Gateway: HELLO → IDENTIFY → READY, heartbeats → ACK, RESUME → replay → RESUMED, and
  dispatches of ``INTERACTION_CREATE`` built by :meth:`FakeDiscord.slash`,
  :meth:`FakeDiscord.autocomplete` and :meth:`FakeDiscord.click`.
* Gateway shards: a connection that identifies with ``"shard": [id, count]`` is that shard,
  and an interaction is dispatched on the shard of its guild, ``(guild_id >> 22) % count``,
  as Discord routes guild events.

Like Discord, JSON is served with ``Content-Type: application/json`` exactly (discord.py
reads anything else as text), and the first follow-up after a deferred response edits the
deferred message instead of creating a new one.

Use it in the test's own event loop (``await fake.start()``) or, for a bot running in a
subprocess, on a background thread with :class:`ThreadedFake`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")

APP_ID = 1100000000000000001
BOT_ID = APP_ID  # a bot user shares its application's id
OWNER_ID = 1200000000000000002
GUILD_ID = 1300000000000000003
CHANNEL_ID = 1400000000000000004

EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Interaction types (payload "type") and callback types (response "type").
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE = 1, 2, 3, 4
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT = 8


def user_payload(user_id: int, name: str | None = None, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name or f"user{user_id % 10000}",
        "discriminator": "0",
        "global_name": None,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


@dataclass
class Sent:
    """One message-bearing request the bot made (a callback, follow-up, edit or delete)."""

    kind: str  # "callback" | "followup" | "edit" | "delete"
    token: str  # the interaction token it belongs to
    body: dict[str, Any]  # the JSON body (or multipart payload_json)
    files: list[tuple[str, bytes]] = field(default_factory=list)
    message: dict[str, Any] | None = None  # the message as it stands after this request
    callback_type: int | None = None
    at: float = field(default_factory=time.monotonic)  # when the fake received it

    @property
    def data(self) -> dict[str, Any]:
        """The message fields: callbacks nest them under ``data``; webhooks do not."""
        if self.kind == "callback":
            return self.body.get("data") or {}
        return self.body

    @property
    def ephemeral(self) -> bool:
        return bool((self.message or {}).get("flags", 0) & EPHEMERAL)

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.data.get("embeds") or []

    @property
    def text(self) -> str:
        """Content plus every embed's visible text, for "does it say X" assertions."""
        parts = [self.data.get("content") or ""]
        for embed in self.embeds:
            parts += [embed.get("title", ""), embed.get("description", "")]
            parts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields", [])]
            parts.append((embed.get("footer") or {}).get("text", ""))
        return "\n".join(p for p in parts if p)

    def buttons(self) -> list[dict[str, Any]]:
        """The buttons of the resulting message, in order."""
        rows = (self.message or {}).get("components") or []
        return [c for row in rows for c in row.get("components", []) if c.get("type") == 2]


@dataclass
class Interaction:
    """An interaction the fake dispatched, and the message it answers to (for clicks)."""

    id: int
    token: str
    payload: dict[str, Any]
    dispatched_at: float | None = None  # monotonic time the gateway frame was sent


@dataclass
class Fault:
    """Answer matching REST requests with an error instead of serving them.

    ``matches(method, path)`` picks the requests; the first ``times`` of them get
    ``status`` with ``body`` (JSON) and ``headers``. A 429 carries ``retry_after`` and
    the ``Via`` header Discord sends (without it discord.py assumes a Cloudflare ban).
    """

    matches: Callable[[str, str], bool]
    status: int
    body: dict[str, Any]
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    hits: list[tuple[str, str, float]] = field(default_factory=list)

    @classmethod
    def rate_limited(
        cls, matches: Callable[[str, str], bool], retry_after: float, times: int = 1
    ) -> Fault:
        body = {"message": "You are being rate limited.", "retry_after": retry_after}
        headers = {"Via": "1.1 google", "Retry-After": str(max(1, round(retry_after)))}
        return cls(matches, 429, body | {"global": False}, times, headers)


class FakeDiscord:
    """The fake service. All state is read and changed on the loop that runs it."""

    def __init__(self, *, token: str = "fake-token", heartbeat_interval: float = 41.25) -> None:
        self.token = token
        self.heartbeat_interval = heartbeat_interval  # seconds, sent in HELLO
        self._ids = itertools.count(1500000000000000000)
        self._runner: web.AppRunner | None = None
        self.port = 0
        # REST records
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.unhandled: list[tuple[str, str]] = []
        self.faults: list[Fault] = []  # injected errors, checked before routing
        self.rest_tokens: set[str] = set()  # also accepted by REST (but not by the gateway)
        self.synced: dict[int | None, list[dict[str, Any]]] = {}  # guild id (None: global)
        self.sent: list[Sent] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self._original: dict[str, int] = {}  # interaction token -> original response message
        self.interactions: dict[str, Interaction] = {}
        self.uploads: dict[str, bytes] = {}  # attachment id -> content, served at its url
        # gateway records
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats: list[float] = []  # monotonic times, only for counting and debugging
        self.connections = 0
        self.shard_count = 0  # from the shards' IDENTIFY; 0: unsharded
        self.shard_sockets: dict[int, web.WebSocketResponse] = {}
        self.dispatched_on: dict[str, int] = {}  # interaction token -> shard it went to
        self.session_id: str | None = None
        self.seq = 0
        self._events: list[dict[str, Any]] = []
        self._ws: web.WebSocketResponse | None = None
        self._changed: asyncio.Condition | None = None

    # ------------------------------------------------------------------ life cycle
    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        app.router.add_get("/attachments/{id}/{name}", self._attachment)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 20.0) -> T:
        """Wait until ``predicate()`` is truthy and return it (a deadline, not a measurement)."""
        assert self._changed is not None

        async def until() -> T:
            assert self._changed is not None
            async with self._changed:
                while not (result := predicate()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(until(), timeout)

    # ------------------------------------------------------------------ REST
    @staticmethod
    def _json(data: Any, status: int = 200) -> web.Response:
        # Exactly "application/json": with "; charset=utf-8" discord.py treats it as text.
        return web.Response(
            body=json.dumps(data).encode(),
            status=status,
            headers={"Content-Type": "application/json"},
        )

    async def _body(self, request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
        if request.content_type.startswith("multipart/"):
            payload: Any = None
            files: list[tuple[str, bytes]] = []
            reader = await request.multipart()
            async for part in reader:
                raw = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    payload = json.loads(raw)
                else:
                    files.append((part.filename or part.name or "", bytes(raw)))  # type: ignore[union-attr]
            return payload, files
        raw = await request.read()
        return (json.loads(raw) if raw else None), []

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["path"]
        body, files = await self._body(request)
        self.requests.append((request.method, path, dict(request.query), body))
        try:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(request.method, path):
                    fault.times -= 1
                    fault.hits.append((request.method, path, time.monotonic()))
                    response = self._json(fault.body, fault.status)
                    response.headers.update(fault.headers)
                    return response
            return await self._route(request, path, body, files)
        finally:
            await self._notify()

    async def _attachment(self, request: web.Request) -> web.Response:
        content = self.uploads.get(request.match_info["id"])
        if content is None:
            return web.Response(status=404)
        return web.Response(body=content, content_type="application/octet-stream")

    def _authorised(self, request: web.Request) -> bool:
        offered = request.headers.get("Authorization")
        return offered in {f"Bot {t}" for t in {self.token, *self.rest_tokens}}

    async def _route(
        self, request: web.Request, path: str, body: Any, files: list[tuple[str, bytes]]
    ) -> web.StreamResponse:
        method = request.method
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/users/@me":
            if not self._authorised(request):
                return self._json({"message": "401: Unauthorized", "code": 0}, 401)
            return self._json(user_payload(BOT_ID, "corpusbot", bot=True))
        if method == "GET" and path == "/oauth2/applications/@me":
            if not self._authorised(request):
                return self._json({"message": "401: Unauthorized", "code": 0}, 401)
            return self._json(self._application())
        if method == "PUT" and parts[0] == "applications" and parts[-1] == "commands":
            if not self._authorised(request):
                return self._json({"message": "401: Unauthorized", "code": 0}, 401)
            guild = int(parts[3]) if len(parts) == 5 and parts[2] == "guilds" else None
            self.synced[guild] = body
            return self._json([self._command(cmd, guild) for cmd in body])
        if method == "POST" and parts[0] == "interactions" and parts[-1] == "callback":
            return self._callback(int(parts[1]), parts[2], body, files)
        if parts[0] == "webhooks" and len(parts) >= 3:
            return self._webhook(
                method, parts[2], parts[4] if len(parts) >= 5 else None, body, files
            )
        self.unhandled.append((method, path))
        return self._json({"message": "404: Not Found", "code": 0}, 404)

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(APP_ID),
            "name": "corpusbot",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user_payload(OWNER_ID, "owner"),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "summary": "",
            "rpc_origins": [],
        }

    def _command(self, cmd: dict[str, Any], guild: int | None) -> dict[str, Any]:
        out = {
            "id": str(next(self._ids)),
            "application_id": str(APP_ID),
            "version": "1",
            "default_member_permissions": None,
            "type": 1,
            "options": [],
            "nsfw": False,
            **cmd,
        }
        if guild is not None:
            out["guild_id"] = str(guild)
        return out

    def _message(
        self,
        data: dict[str, Any],
        *,
        flags: int = 0,
        files: list[tuple[str, bytes]] = (),
        msg_id: int | None = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:
        msg_id = msg_id or next(self._ids)
        attachments = [
            {
                "id": str(next(self._ids)),
                "filename": name,
                "size": len(content),
                "url": f"http://127.0.0.1:{self.port}/attachments/{name}",
                "proxy_url": f"http://127.0.0.1:{self.port}/attachments/{name}",
            }
            for name, content in files
        ]
        message = {
            "id": str(msg_id),
            "channel_id": str(CHANNEL_ID),
            "guild_id": str(GUILD_ID),
            "author": user_payload(BOT_ID, "corpusbot", bot=True),
            "content": data.get("content") or "",
            "timestamp": "2024-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": data.get("embeds") or [],
            "components": data.get("components") or [],
            "pinned": False,
            "type": 20,
            "flags": flags,
            "webhook_id": str(APP_ID),
            "application_id": str(APP_ID),
        }
        self.messages[msg_id] = message
        return message

    def _edit(self, msg_id: int, data: dict[str, Any], files: list[tuple[str, bytes]]) -> dict:
        message = self.messages[msg_id]
        for key in ("content", "embeds", "components"):
            if key in data:
                message[key] = (
                    data[key] if data[key] is not None else ("" if key == "content" else [])
                )
        if files:
            message["attachments"] += self._message({}, files=files)["attachments"]
        message["flags"] = message.get("flags", 0) & ~LOADING
        message["edited_timestamp"] = "2024-01-01T00:00:01+00:00"
        return message

    def _callback(
        self, iid: int, token: str, body: dict[str, Any], files: list[tuple[str, bytes]]
    ) -> web.Response:
        kind = body["type"]
        data = body.get("data") or {}
        if token in self._original and kind != AUTOCOMPLETE_RESULT:
            # Discord: an interaction can be responded to once.
            return self._json(
                {"message": "Interaction has already been acknowledged.", "code": 40060}, 400
            )
        interaction = self.interactions.get(token)
        resource: dict[str, Any] = {"type": kind}
        message = None
        if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            flags = data.get("flags", 0) & EPHEMERAL
            if kind == DEFERRED_CHANNEL_MESSAGE:
                flags |= LOADING
            message = self._message(data, flags=flags, files=files)
            self._original[token] = int(message["id"])
        elif kind in (UPDATE_MESSAGE, DEFERRED_UPDATE):
            assert interaction is not None and "message" in interaction.payload
            msg_id = int(interaction.payload["message"]["id"])
            self._original[token] = msg_id
            message = self._edit(msg_id, data, files) if kind == UPDATE_MESSAGE else None
        elif kind == AUTOCOMPLETE_RESULT:
            self._original[token] = 0
        if message is not None:
            resource["message"] = message
        self.sent.append(
            Sent(
                "callback",
                token,
                body,
                list(files),
                json.loads(json.dumps(message)) if message else None,
                kind,
            )
        )
        flags = (message or {}).get("flags", 0)
        return self._json(
            {
                "interaction": {
                    "id": str(iid),
                    "type": interaction.payload["type"] if interaction else 2,
                    "response_message_id": message["id"] if message else None,
                    "response_message_loading": bool(flags & LOADING),
                    "response_message_ephemeral": bool(flags & EPHEMERAL),
                },
                "resource": resource,
            }
        )

    def _webhook(
        self,
        method: str,
        token: str,
        msg_ref: str | None,
        body: Any,
        files: list[tuple[str, bytes]],
    ) -> web.Response:
        if msg_ref is None and method == "POST":
            original = self._original.get(token)
            if original and self.messages[original].get("flags", 0) & LOADING:
                # The first follow-up after a deferred response replaces the "thinking…".
                message = self._edit(original, body, files)
            else:
                flags = (body.get("flags") or 0) & EPHEMERAL
                message = self._message(body, flags=flags, files=files)
            self.sent.append(
                Sent("followup", token, body, list(files), json.loads(json.dumps(message)))
            )
            return self._json(message)
        if msg_ref is None:
            return self._json({"message": "405", "code": 0}, 405)
        msg_id = self._original.get(token, 0) if msg_ref == "@original" else int(msg_ref)
        if msg_id not in self.messages:
            return self._json({"message": "Unknown Message", "code": 10008}, 404)
        if method == "GET":
            return self._json(self.messages[msg_id])
        if method == "PATCH":
            message = self._edit(msg_id, body or {}, files)
            self.sent.append(
                Sent("edit", token, body or {}, list(files), json.loads(json.dumps(message)))
            )
            return self._json(message)
        if method == "DELETE":
            self.sent.append(Sent("delete", token, {}, [], self.messages.pop(msg_id)))
            return web.Response(status=204)
        return self._json({"message": "405", "code": 0}, 405)

    # ------------------------------------------------------------------ gateway
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections += 1
        self._ws = ws
        await ws.send_json(
            {
                "op": 10,
                "d": {"heartbeat_interval": self.heartbeat_interval * 1000},
                "s": None,
                "t": None,
            }
        )
        await self._notify()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._on_gateway(ws, json.loads(msg.data))
                await self._notify()
        finally:
            if self._ws is ws:
                self._ws = None
            for shard, socket in list(self.shard_sockets.items()):
                if socket is ws:
                    del self.shard_sockets[shard]
            await self._notify()
        return ws

    async def _on_gateway(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            self.heartbeats.append(time.monotonic())
            await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            self.identifies.append(d)
            if d.get("token") != self.token:
                await ws.close(code=4004, message=b"Authentication failed.")
                return
            shard = d.get("shard")
            if shard and shard[1] > 1:
                self.shard_count = shard[1]
                self.shard_sockets[shard[0]] = ws
            else:
                self.seq = 0
                self._events = []
            self.session_id = f"session-{next(self._ids)}"
            await self.dispatch(
                "READY",
                {
                    "shard": shard,
                    "v": 10,
                    "user": user_payload(BOT_ID, "corpusbot", bot=True),
                    "guilds": [],
                    "session_id": self.session_id,
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(APP_ID), "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                    "user_settings": {},
                    "presences": [],
                },
                ws=ws,
            )
        elif op == 6:
            self.resumes.append(d)
            if d.get("session_id") != self.session_id or d.get("token") != self.token:
                await ws.send_json({"op": 9, "d": False, "s": None, "t": None})
                return
            for event in self._events:  # replay what was missed while disconnected
                if event["s"] > (d.get("seq") or 0):
                    await ws.send_json(event)
            await self.dispatch("RESUMED", {})

    async def dispatch(
        self, event: str, data: dict[str, Any], ws: web.WebSocketResponse | None = None
    ) -> None:
        """Send a dispatch (op 0) on ``ws`` (default: the latest connection); kept for
        replay if the bot is disconnected right now."""
        self.seq += 1
        frame = {"op": 0, "t": event, "s": self.seq, "d": data}
        self._events.append(frame)
        ws = ws or self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.send_json(frame)

    def shard_of(self, guild_id: int) -> int:
        """The gateway shard Discord delivers a guild's events on."""
        return (guild_id >> 22) % self.shard_count if self.shard_count else 0

    async def drop(self, code: int = 4000) -> None:
        """Close the bot's websocket like Discord does on a hiccup (4000: resumable)."""
        assert self._ws is not None, "the bot is not connected"
        await self._ws.close(code=code, message=b"fake hiccup")

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    # ------------------------------------------------------------------ interactions
    def _interaction(
        self,
        kind: int,
        data: dict[str, Any],
        user_id: int,
        message: dict[str, Any] | None = None,
        guild: int = GUILD_ID,
    ) -> Interaction:
        iid = next(self._ids)
        token = f"token-{iid}"
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(APP_ID),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "guild_id": str(guild),
            "guild": {"id": str(guild), "locale": "en-US", "features": []},
            "channel_id": str(CHANNEL_ID),
            "channel": {
                "id": str(CHANNEL_ID),
                "type": 0,
                "name": "general",
                "guild_id": str(guild),
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            },
            "member": {
                "user": user_payload(user_id),
                "roles": [],
                "nick": None,
                "joined_at": "2024-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
                "permissions": "2248473465835073",
            },
            "locale": "en-US",
            "guild_locale": "en-US",
            "app_permissions": "2248473465835073",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        interaction = Interaction(iid, token, payload)
        self.interactions[token] = interaction
        return interaction

    def _command_id(self, name: str) -> str:
        for commands in self.synced.values():
            for cmd in commands or []:
                if cmd.get("name") == name and "id" in cmd:
                    return cmd["id"]
        return str(next(self._ids))

    def slash(
        self, name: str, user_id: int, *, guild: int = GUILD_ID, **options: Any
    ) -> Interaction:
        """A ``/name option:value ...`` invocation (string options) in ``guild``."""
        data = {
            "id": self._command_id(name),
            "name": name,
            "type": 1,
            "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()],
        }
        return self._interaction(APPLICATION_COMMAND, data, user_id, guild=guild)

    def upload(self, filename: str, content: bytes) -> dict[str, Any]:
        """An attachment a user picked for an option, served at its ``url`` like Discord's CDN."""
        attachment_id = str(next(self._ids))
        self.uploads[attachment_id] = content
        url = f"http://127.0.0.1:{self.port}/attachments/{attachment_id}/{filename}"
        return {
            "id": attachment_id,
            "filename": filename,
            "size": len(content),
            "url": url,
            "proxy_url": url,
        }

    def command(
        self,
        name: str,
        user_id: int,
        options: list[dict[str, Any]],
        *,
        attachments: list[dict[str, Any]] = (),  # type: ignore[assignment]
        guild: int = GUILD_ID,
        kind: int = APPLICATION_COMMAND,
    ) -> Interaction:
        """``/name`` with raw option payloads: subcommands (type 1), groups (type 2),
        attachments (type 11, listed in ``resolved``), ``focused`` for autocomplete."""
        data: dict[str, Any] = {
            "id": self._command_id(name),
            "name": name,
            "type": 1,
            "options": options,
        }
        if attachments:
            data["resolved"] = {"attachments": {a["id"]: a for a in attachments}}
        return self._interaction(kind, data, user_id, guild=guild)

    def autocomplete(self, name: str, option: str, value: str, user_id: int) -> Interaction:
        data = {
            "id": self._command_id(name),
            "name": name,
            "type": 1,
            "options": [{"name": option, "type": 3, "value": value, "focused": True}],
        }
        return self._interaction(AUTOCOMPLETE, data, user_id)

    def click(self, message: dict[str, Any], custom_id: str, user_id: int) -> Interaction:
        """A button press on ``message`` (as the fake stored it)."""
        data = {"custom_id": custom_id, "component_type": 2}
        return self._interaction(MESSAGE_COMPONENT, data, user_id, message=message)

    async def send(self, interaction: Interaction) -> Interaction:
        """Deliver an interaction over the gateway."""
        interaction.dispatched_at = time.monotonic()
        ws = None
        if self.shard_count:
            shard = self.shard_of(int(interaction.payload["guild_id"]))
            ws = self.shard_sockets.get(shard)
            assert ws is not None, f"gateway shard {shard} is not connected"
            self.dispatched_on[interaction.token] = shard
        await self.dispatch("INTERACTION_CREATE", interaction.payload, ws)
        return interaction

    async def send_many(self, interactions: list[Interaction]) -> list[Interaction]:
        """Deliver interactions back to back (a burst), each stamped with its dispatch time."""
        for interaction in interactions:
            await self.send(interaction)
        return interactions

    # ------------------------------------------------------------------ reading results
    def sent_for(self, token: str) -> list[Sent]:
        return [s for s in self.sent if s.token == token]

    def reply(self, token: str) -> Sent | None:
        """The first message-bearing answer to an interaction (not a bare defer)."""
        for s in self.sent_for(token):
            if s.kind == "callback" and s.callback_type in (
                DEFERRED_CHANNEL_MESSAGE,
                DEFERRED_UPDATE,
            ):
                continue
            return s
        return None

    async def wait_reply(self, interaction: Interaction, timeout: float = 20.0) -> Sent:
        return await self.wait_for(lambda: self.reply(interaction.token), timeout)


class ThreadedFake:
    """Run a :class:`FakeDiscord` on its own loop in a daemon thread (for subprocess bots)."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="fake-discord"
        )

    def __enter__(self) -> ThreadedFake:
        self._thread.start()
        self.run(self.fake.start())
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.run(self.fake.stop(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run a coroutine on the fake's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the fake's loop (its state is only touched there)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())
