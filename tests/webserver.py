"""A small web site on 127.0.0.1 for the fetch and feed tests: article pages with ETags,
an RSS feed that repeats an item and links to every fault, an Atom feed, robots.txt, a
404, a page that never answers in time, a huge page and a PDF. Every request is recorded
(path and headers) so tests can check the conditional GETs and the user agent."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def article_page(title: str, body: str, *, noise: str = "") -> bytes:
    """An article page with boilerplate around it (menus, a footer: trafilatura drops them)."""
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    return f"""<!doctype html><html><head><title>{title}</title>
<meta property="og:site_name" content="Steppe Daily">
<meta property="article:published_time" content="2024-06-03"></head>
<body><nav><a href="/">Home</a> | <a href="/news">News</a> | {noise}</nav>
<article><h1>{title}</h1>{paragraphs}</article>
<footer>Copyright Steppe Daily. All rights reserved. {noise}</footer></body></html>""".encode()


ARTICLES = {
    "/news/cable-car": (
        "Almaty opens a cable car to the Tuyuksu glacier",
        "The city of Almaty opened a cable car on Monday that carries visitors from the "
        "Medeu skating rink to the edge of the Tuyuksu glacier in twelve minutes.\n\n"
        "The line is 4.5 kilometres long and took three years to build, the city's "
        "transport department said in a statement.\n\n"
        "Tickets cost 3,000 tenge for adults, and children under seven ride for free "
        "during the first summer of operation.",
    ),
    "/news/wheat": (
        "Kostanay farmers expect a record wheat harvest",
        "Farmers in the Kostanay region expect to harvest a record 6.2 million tonnes of "
        "wheat this autumn after a wet spring, the regional agriculture office said.\n\n"
        "Most of the grain will be exported to Uzbekistan and China by rail through the "
        "Khorgos dry port, which opened a second terminal in May.",
    ),
}


def rss(items: list[str], base: str) -> bytes:
    entries = "".join(
        f"<item><title>{path}</title><link>{base}{path}</link></item>" for path in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Steppe Daily</title><link>{base}/</link><description>News</description>"
        f"{entries}</channel></rss>"
    ).encode()


def atom(items: list[str], base: str) -> bytes:
    entries = "".join(
        f'<entry><title>{p}</title><id>{base}{p}</id><link href="{base}{p}"/>'
        "<updated>2024-06-03T00:00:00Z</updated></entry>"
        for p in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Steppe Atom</title><id>{base}/atom</id><updated>2024-06-03T00:00:00Z</updated>"
        f"{entries}</feed>"
    ).encode()


@dataclass
class Site:
    """The site's content, changeable by a test while the server runs."""

    port: int = 0
    pages: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(ARTICLES))
    noise: str = "visitors today: 1"  # changes on every request unless a test fixes it
    feed_items: list[str] = field(
        default_factory=lambda: [
            "/news/cable-car",
            "/news/wheat",
            "/news/cable-car",  # the feed repeats an item
            "/news/gone",  # 404
            "/slow",  # never answers in time
            "/huge",  # over the size cap
            "/report.pdf",  # not HTML
            "/private/memo",  # disallowed by robots.txt
        ]
    )
    slow_seconds: float = 3.0
    etags: bool = True  # False: every 200 (no conditional GET possible)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    hits: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requested(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p == path]


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def send(self, status: int, body: bytes, ctype: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key.replace("_", "-"), value)
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

        def do_GET(self) -> None:
            site.requests.append((self.path, dict(self.headers)))
            site.hits += 1
            path = self.path
            if path == "/robots.txt":
                self.send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
            elif path == "/feed.xml":
                self.send(200, rss(site.feed_items, site.base), "application/rss+xml")
            elif path == "/atom.xml":
                self.send(200, atom(["/news/wheat"], site.base), "application/atom+xml")
            elif path in site.pages:
                title, body = site.pages[path]
                etag = f'"{abs(hash((title, body)))}"'
                if site.etags and self.headers.get("If-None-Match") == etag:
                    self.send(304, b"", "text/html", ETag=etag)
                    return
                page = article_page(title, body, noise=f"{site.noise} #{site.hits}")
                extra = {"ETag": etag} if site.etags else {}
                self.send(200, page, "text/html; charset=utf-8", **extra)
            elif path == "/slow":
                time.sleep(site.slow_seconds)
                self.send(200, article_page("Slow", "Too late."), "text/html")
            elif path == "/huge":
                self.send(200, b"<html><body>" + b"<p>word</p>" * 600_000, "text/html")
            elif path == "/huge-unsized":  # no Content-Length: the cap applies while reading
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                with contextlib.suppress(OSError):
                    for _ in range(100):
                        self.wfile.write(b"<p>" + b"word " * 20_000 + b"</p>")
            elif path == "/report.pdf":
                self.send(200, b"%PDF-1.7 not an article", "application/pdf")
            elif path == "/private/memo":
                self.send(200, article_page("Memo", "Should never be fetched."), "text/html")
            else:
                self.send(404, b"not found", "text/plain")

    return Handler


@contextlib.contextmanager
def serve(site: Site | None = None) -> Iterator[Site]:
    """The site on 127.0.0.1 (a free port) in a daemon thread, shut down afterwards."""
    site = site or Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="test-web")
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
