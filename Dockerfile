# tradebot image: one image for web (gunicorn), worker, beat, the Telegram bot and the simulator;
# compose.yaml picks the command. Build: docker build -t tradebot .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# pg_dump / pg_restore for operations.backup_db on PostgreSQL
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# a non-root user owns the data; the code stays root-owned and read-only to it
RUN groupadd --system --gid 10001 tradebot \
    && useradd --system --uid 10001 --gid tradebot --home-dir /app --shell /usr/sbin/nologin tradebot

WORKDIR /app
# pinned requirements first, so a code change does not reinstall them
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# byte-compiled once here: with PYTHONDONTWRITEBYTECODE and the code read-only no process writes .pyc, so
# each would recompile every project module at start-up (about 0.3 s of `manage.py backtest`)
RUN python -m compileall -q apps tradebot celery_app.py manage.py
# static files (admin, API docs) collected at build time and served by whitenoise; the settings need a
# DATA_DIR and no metrics folder for that
RUN SECRET_KEY=collectstatic-only-not-used-at-run-time DATA_DIR=/tmp/build-data PROMETHEUS_MULTIPROC_DIR= \
    python manage.py collectstatic --noinput -v0 \
    && rm -rf /tmp/build-data \
    && mkdir -p /app/data /backups \
    && chown tradebot:tradebot /app/data /backups

USER tradebot
ENV DATA_DIR=/app/data \
    DB_BACKUP_DIR=/backups \
    GUNICORN_BIND=0.0.0.0:8000
VOLUME ["/app/data", "/backups"]
EXPOSE 8000

# liveness of the web process (GET /health, no I/O); compose.yaml overrides it for worker and beat
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

CMD ["gunicorn", "tradebot.wsgi"]
