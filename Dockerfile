# corpusbot in a container (docs/admin.md "Running it as a service"):
#
#   docker build -t corpusbot .
#   docker volume create corpusbot-data
#   docker run --rm --env-file .env -v corpusbot-data:/data corpusbot corpusbot serve --sync   # once
#   docker run -d --restart unless-stopped --env-file .env -v corpusbot-data:/data corpusbot
#
# The database, its salt and the files the bot was given or fetched live on the /data
# volume: the installed package's default database is $XDG_DATA_HOME/corpusbot/corpus.db,
# built from the seed articles on first use. The process runs as an unprivileged user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    XDG_DATA_HOME=/data

RUN useradd --system --create-home --uid 10001 corpusbot \
    && mkdir -p /data \
    && chown corpusbot:corpusbot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY retrieval ./retrieval
COPY bot ./bot
COPY seeds ./seeds
RUN pip install . && rm -rf /root/.cache

USER corpusbot
VOLUME ["/data"]
# Metrics (CORPUSBOT_METRICS_PORT=9108) listen on 127.0.0.1 unless CORPUSBOT_METRICS_HOST
# says otherwise; inside a container set it to 0.0.0.0 and publish the port to the host's
# loopback only: -p 127.0.0.1:9108:9108.
EXPOSE 9108
CMD ["corpusbot", "serve"]
