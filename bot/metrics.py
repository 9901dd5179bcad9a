"""Prometheus metrics of the bot, served on ``CORPUSBOT_METRICS_PORT`` (off when unset).

The endpoint binds to 127.0.0.1 unless ``CORPUSBOT_METRICS_HOST`` says otherwise: metrics
are for a scraper on the same machine (or behind a proxy), not for the internet.

- ``corpusbot_questions_total{status}``: questions (and More pages) by answer status;
- ``corpusbot_question_seconds``: answer latency (histogram);
- ``corpusbot_feed_refreshes_total{result}``: feed fetches (``ok``, ``unchanged``,
  ``error``);
- ``corpusbot_corpus_articles`` / ``corpusbot_corpus_sentences``: the corpus's size,
  read when scraped.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from retrieval.errors import CorpusError

if TYPE_CHECKING:
    from retrieval.corpus import Corpus

log = logging.getLogger("corpusbot.bot")

PORT_ENV = "CORPUSBOT_METRICS_PORT"
HOST_ENV = "CORPUSBOT_METRICS_HOST"
DEFAULT_HOST = "127.0.0.1"

REGISTRY = CollectorRegistry(auto_describe=True)
QUESTIONS = Counter(
    "corpusbot_questions", "Questions answered, by status", ["status"], registry=REGISTRY
)
LATENCY = Histogram(
    "corpusbot_question_seconds",
    "Time to answer one question",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
FEEDS = Counter(
    "corpusbot_feed_refreshes", "Feed and page fetches, by result", ["result"], registry=REGISTRY
)
ARTICLES = Gauge("corpusbot_corpus_articles", "Articles in the corpus", registry=REGISTRY)
SENTENCES = Gauge("corpusbot_corpus_sentences", "Searchable sentences", registry=REGISTRY)


@dataclass(frozen=True)
class MetricsSettings:
    port: int | None = None  # None: no endpoint
    host: str = DEFAULT_HOST


def settings(environ: Mapping[str, str] | None = None) -> MetricsSettings:
    """The endpoint's port and host; ``ValueError`` with one line for a bad port."""
    environ = os.environ if environ is None else environ
    raw = (environ.get(PORT_ENV) or "").strip()
    host = (environ.get(HOST_ENV) or "").strip() or DEFAULT_HOST
    if not raw:
        return MetricsSettings(None, host)
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ValueError(f"{PORT_ENV} must be a port number (0-65535), not {raw!r}")
    return MetricsSettings(int(raw), host)


def observe_question(status: str, seconds: float) -> None:
    QUESTIONS.labels(status=status).inc()
    LATENCY.observe(seconds)


def observe_feed(result: str) -> None:
    FEEDS.labels(result=result).inc()


def track_corpus(corpus: Corpus) -> None:
    """Read the corpus's size at every scrape (NaN while the database cannot be read)."""

    def read(field: str) -> Callable[[], float]:
        def value() -> float:
            try:
                return float(getattr(corpus.stats(), field))
            except CorpusError:
                return math.nan

        return value

    ARTICLES.set_function(read("articles"))
    SENTENCES.set_function(read("sentences"))


def serve(config: MetricsSettings) -> WSGIServer | None:
    """Start the endpoint in a daemon thread (None when off); ``server_address`` has the
    port (0 in the settings picks a free one), ``shutdown()`` stops it."""
    if config.port is None:
        return None
    server, _thread = start_http_server(config.port, addr=config.host, registry=REGISTRY)
    host, port = server.server_address[:2]
    log.info("metrics on http://%s:%d/metrics", host, port)
    return server
