"""Polite HTTP GET for pages and feeds (urllib): robots.txt, conditional requests,
timeouts, a size cap and a user agent that names the project.

- Only ``http`` and ``https``, and redirects only to them (the opener has no file or
  FTP handler).
- Only public addresses, redirects included: a host that resolves to a loopback, private,
  link-local or reserved address (this machine, its network, a cloud's metadata service)
  is refused unless ``allow_private`` (``CORPUSBOT_FETCH_PRIVATE=on``): whoever may add a
  URL must not reach what only the bot's machine can.
- robots.txt is read once an hour per site (:mod:`urllib.robotparser`): a page it
  disallows for ``corpusbot`` is not fetched. No robots.txt (404) allows everything; 401
  or 403 allows nothing, as the robots exclusion standard says.
- ``If-None-Match`` / ``If-Modified-Since`` from the previous fetch: a 304 is
  :attr:`Fetched.not_modified`, with no body.
- ``timeout`` bounds each connect and read, and the whole download; a body larger than
  ``max_bytes`` is refused (by its Content-Length before reading, else while reading).

Every failure is one :class:`FetchError` whose message is one line for a log or an admin.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import urllib.robotparser
from dataclasses import dataclass
from urllib.parse import urlsplit

from retrieval.errors import CorpusError

AGENT = "corpusbot"
USER_AGENT = f"{AGENT}/0.1 (a question-answering bot over a news corpus; respects robots.txt)"
TIMEOUT = 10.0
MAX_BYTES = 5 * 1024 * 1024
ROBOTS_TTL = 3600.0
CHUNK = 64 * 1024


class FetchError(CorpusError):
    """A URL could not be fetched; ``str(err)`` is one line, ``status`` the HTTP status
    when the server answered with an error."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int  # 200, or 304 (not modified)
    content_type: str  # "text/html", lower case, without parameters ("" if none)
    body: bytes
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def check_url(url: str) -> str:
    """``url`` stripped, if it is an http(s) address with a host; else FetchError."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) address: {url[:200]!r}")
    return url


def check_public(url: str) -> None:
    """FetchError unless every address ``url``'s host resolves to is a public one. Through
    a proxy only an address written in the URL is checked: the proxy resolves names."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        proxies = urllib.request.getproxies()
        if parts.scheme in proxies and not urllib.request.proxy_bypass(host):
            return
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as err:
            raise FetchError(f"{url}: cannot resolve {host[:100]} ({err})") from None
        addresses = [ipaddress.ip_address(i[4][0].split("%", 1)[0]) for i in infos]
    for address in addresses:
        if not address.is_global:
            raise FetchError(
                f"{url}: {host[:100]} is not a public address ({address}); "
                "CORPUSBOT_FETCH_PRIVATE=on allows it"
            )


def _connect_public(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """``socket.create_connection``, refusing a peer that is not a public address. The
    name is resolved again to connect, so a host that answered with a public address to
    :func:`check_public` and now with a private one (DNS rebinding) is caught here, before
    a byte is sent."""
    sock = socket.create_connection(address, timeout, source_address)
    peer = ipaddress.ip_address(sock.getpeername()[0].split("%", 1)[0])
    if not peer.is_global:
        sock.close()
        raise FetchError(
            f"{address[0][:100]} now resolves to {peer}, not a public address; "
            "CORPUSBOT_FETCH_PRIVATE=on allows it"
        )
    return sock


def _public_only(connection: type[http.client.HTTPConnection], req: urllib.request.Request):
    """A connection class for ``do_open`` whose sockets reach public addresses only,
    unless ``req`` goes through a proxy (the proxy resolves names, as in check_public)."""
    if req.has_proxy() or getattr(req, "_tunnel_host", None):
        return connection

    def make(*args, **kwargs) -> http.client.HTTPConnection:
        made = connection(*args, **kwargs)
        # http.client opens every socket through this attribute (HTTPS before its TLS
        # handshake): the one place to see the address actually connected to.
        made._create_connection = _connect_public
        return made

    return make


class _PublicOnly:
    """A handler's ``do_open`` with :func:`_public_only` connections."""

    def do_open(self, http_class, req, **kwargs):
        return super().do_open(_public_only(http_class, req), req, **kwargs)


class _PublicHTTPHandler(_PublicOnly, urllib.request.HTTPHandler):
    pass


class _PublicHTTPSHandler(_PublicOnly, urllib.request.HTTPSHandler):
    pass


class _PublicRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to an http(s) address that may be fetched."""

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        target = check_url(newurl)
        if not self.allow_private:
            check_public(target)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Fetcher:
    """GETs with one user agent, timeout and size cap, public addresses only unless
    ``allow_private``; thread-safe (robots cache locked)."""

    def __init__(
        self,
        *,
        timeout: float = TIMEOUT,
        max_bytes: int = MAX_BYTES,
        user_agent: str = USER_AGENT,
        allow_private: bool = False,
    ):
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.allow_private = allow_private
        self._robots: dict[str, tuple[float, urllib.robotparser.RobotFileParser]] = {}
        self._lock = threading.Lock()
        self._opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),  # honours http(s)_proxy and no_proxy
            urllib.request.HTTPHandler() if allow_private else _PublicHTTPHandler(),
            urllib.request.HTTPSHandler() if allow_private else _PublicHTTPSHandler(),
            _PublicRedirects(allow_private),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
        ):
            self._opener.add_handler(handler)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Fetcher:
        """``CORPUSBOT_FETCH_TIMEOUT`` (seconds, default 10), ``CORPUSBOT_FETCH_MAX_BYTES``
        (default 5 MB) and ``CORPUSBOT_FETCH_PRIVATE`` (``off``, the default, or ``on``);
        ``ValueError`` with one line for a bad value."""
        environ = os.environ if environ is None else environ
        timeout, max_bytes = TIMEOUT, MAX_BYTES
        private = (environ.get("CORPUSBOT_FETCH_PRIVATE") or "off").strip().lower()
        if private not in ("on", "off"):
            raise ValueError(f"CORPUSBOT_FETCH_PRIVATE must be on or off, not {private!r}")
        if raw := (environ.get("CORPUSBOT_FETCH_TIMEOUT") or "").strip():
            try:
                timeout = float(raw)
            except ValueError:
                timeout = -1
            if not 0 < timeout <= 300:
                raise ValueError(f"CORPUSBOT_FETCH_TIMEOUT must be 0-300 seconds, not {raw!r}")
        if raw := (environ.get("CORPUSBOT_FETCH_MAX_BYTES") or "").strip():
            if not raw.isdigit() or int(raw) == 0:
                raise ValueError(
                    f"CORPUSBOT_FETCH_MAX_BYTES must be a number of bytes, not {raw!r}"
                )
            max_bytes = int(raw)
        return cls(timeout=timeout, max_bytes=max_bytes, allow_private=private == "on")

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        robots: bool = True,
    ) -> Fetched:
        """GET ``url`` (conditionally when ``etag`` / ``last_modified`` are given)."""
        url = check_url(url)
        if not self.allow_private:
            check_public(url)
        if robots and not self.allowed(url):
            raise FetchError(f"robots.txt of {urlsplit(url).netloc} disallows {url}")
        headers = {"User-Agent": self.user_agent, "Accept-Encoding": "identity"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        request = urllib.request.Request(url, headers=headers)
        deadline = time.monotonic() + self.timeout
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = self._read(response, url, deadline)
                return Fetched(
                    url=response.geturl(),  # after redirects: each was checked on the way
                    status=response.status,
                    content_type=_content_type(response.headers.get("Content-Type")),
                    body=body,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                )
        except urllib.error.HTTPError as err:
            if err.code == 304:
                return Fetched(url, 304, "", b"", etag, last_modified)
            raise FetchError(f"{url}: HTTP {err.code} {err.reason}", err.code) from None
        except TimeoutError:
            raise FetchError(f"{url}: no answer within {self.timeout:g} s") from None
        except urllib.error.URLError as err:
            reason = err.reason
            if isinstance(reason, TimeoutError):
                raise FetchError(f"{url}: no answer within {self.timeout:g} s") from None
            raise FetchError(f"{url}: cannot connect ({reason})") from None
        except (OSError, http.client.HTTPException, ValueError) as err:
            raise FetchError(f"{url}: {type(err).__name__}: {err}") from None

    def _read(self, response, url: str, deadline: float) -> bytes:
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            raise FetchError(f"{url}: {int(length):,} bytes, over the {self.max_bytes:,} limit")
        chunks, size = [], 0
        while chunk := response.read(CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(f"{url}: over the {self.max_bytes:,} byte limit")
            if time.monotonic() > deadline:
                raise FetchError(f"{url}: not downloaded within {self.timeout:g} s")
            chunks.append(chunk)
        return b"".join(chunks)

    def allowed(self, url: str) -> bool:
        """Whether the site's robots.txt lets ``corpusbot`` fetch ``url``."""
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            cached = self._robots.get(site)
        if cached is None or time.monotonic() - cached[0] > ROBOTS_TTL:
            rules = urllib.robotparser.RobotFileParser(f"{site}/robots.txt")
            try:
                found = self.get(f"{site}/robots.txt", robots=False)
                rules.parse(found.body.decode("utf-8", "replace").splitlines())
            except FetchError as err:
                if err.status in (401, 403):
                    rules.disallow_all = True
                elif err.status is not None and 400 <= err.status < 500:
                    rules.allow_all = True
                else:
                    raise  # the site is down or slow: the page would fail too
            cached = (time.monotonic(), rules)
            with self._lock:
                self._robots[site] = cached
        return cached[1].can_fetch(AGENT, url)


def _content_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()
