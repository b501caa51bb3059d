# MusicDrops: one image for every process type in the Procfile.
#
# The default command is the `web` process. Every other process runs from this
# same image with the command overridden by the Procfile line, for example:
#   docker run IMAGE python manage.py migrate --noinput          # release (before new web/workers start)
#   docker run IMAGE celery -A musicdrops beat --loglevel INFO   # beat (RedBeat's lock makes a second one idle)
#   docker run IMAGE bash -c 'exec env REMAP_SIGTERM=SIGQUIT celery -A musicdrops worker --queues regular ...'
#   docker run IMAGE bash -c 'exec env REMAP_SIGTERM=SIGQUIT celery -A musicdrops worker --queues important ...'
# (the full worker lines are in the Procfile). They use ${VAR:-default}, which only a
# shell expands; `exec` makes celery replace the shell, so SIGTERM reaches it, and
# REMAP_SIGTERM turns it into Celery's soft-then-cold shutdown (running tasks get 5 s,
# then are requeued) instead of a warm shutdown that waits for them however long.
# Configuration comes from the environment, as on Heroku
# (SECRET_KEY, ALLOWED_HOSTS, SITE_URL, DATABASE_URL, REDIS_URL, ...: see app.json).

# --- builder: production dependencies in a venv (no dev tools) ---------------
FROM python:3.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
# Only requirements.txt first, so a code change doesn't reinstall everything.
COPY requirements.txt /tmp/requirements.txt
# Every dependency has a binary wheel (psycopg[binary] included): no compiler needed.
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

# --- final: the venv and the code, run by an unprivileged user ---------------
FROM python:3.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:$PATH" \
    PORT=8000

# --no-log-init: a large UID would otherwise make useradd write a huge sparse lastlog.
RUN groupadd --system --gid 10001 musicdrops \
    && useradd --system --uid 10001 --gid musicdrops --no-log-init \
        --home-dir /app --no-create-home --shell /usr/sbin/nologin musicdrops

WORKDIR /app
# Same base image in both stages, so the venv's interpreter path is valid here.
COPY --from=builder /opt/venv /opt/venv
# Code and static files stay owned by root: the app user can read, not change them.
COPY . .
# Settings refuse to start without SECRET_KEY; collectstatic needs none of its
# secrecy, so a throwaway key is given to this one command and never kept in the image.
RUN env SECRET_KEY=build-only-collectstatic-not-a-secret python manage.py collectstatic --noinput

# The commit the image was built from, for beat heartbeats, logs and Sentry (musicdrops/release.py):
#   docker build --build-arg SOURCE_VERSION="$(git rev-parse HEAD)" .
# Declared after the slow steps, so a different value rebuilds nothing above it.
ARG SOURCE_VERSION=""
ENV SOURCE_VERSION=${SOURCE_VERSION}

# Numeric, so an orchestrator (e.g. runAsNonRoot) can verify it isn't root.
USER 10001:10001
EXPOSE 8000

# Liveness of the web process only. /healthz answers 503 while no beat is alive:
# that still proves gunicorn and Django are serving, and restarting web would not
# bring a beat back. So any HTTP answer counts as healthy; only a refused connection
# or a timeout is not. A bare OpenerDirector with just the HTTP handler returns
# error statuses instead of raising, and ignores any *_proxy variables. The
# timeouts leave room for /healthz's own 5 s timeouts on Redis. (/healthz is
# answered before the ALLOWED_HOSTS check: probes by IP address get an answer.)
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; o = r.OpenerDirector(); o.add_handler(r.HTTPHandler()); o.open('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=9)"]

# Exec form: gunicorn is PID 1 and gets SIGTERM itself (graceful_timeout in gunicorn.conf.py).
CMD ["gunicorn", "musicdrops.wsgi", "--config", "gunicorn.conf.py"]
