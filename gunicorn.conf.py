"""Gunicorn settings for the web process (Procfile: web)."""

import os
import socket
import sys
from typing import Any

from gunicorn import glogging  # type: ignore[import-untyped]

# Every interface on a platform (its router connects from outside); `make run` sets HOST=127.0.0.1.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
# Threads serve many slow clients per process at little memory; the
# processes use both cores. WEB_CONCURRENCY is the platform's usual knob.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Heroku's router gives up on a request after 30 s: stop working on it before that.
timeout = 25
# SIGTERM (a deploy or restart): finish in-flight requests for at most 8 s, so
# the process is gone well inside the platform's grace period.
graceful_timeout = 8
keepalive = 5
# A listening socket per worker: the kernel spreads connections over both (docs/performance.md).
reuse_port = True
# No recycling after N requests (max_requests stays 0): a new worker costs 0.8 s of CPU to import the app.
# No control socket: its default path (~/.gunicorn) is shared by every gunicorn of a user, and read-only in the image.
control_socket_disable = True
# The platform's router is the only client; trust its X-Forwarded-* headers.
forwarded_allow_ips = "*"
# Web's queries stop after 5 s (settings.py): the router gives up at 30 s, and a probe must not wait behind them.
raw_env = [f"DATABASE_STATEMENT_TIMEOUT_MS={os.environ.get('DATABASE_STATEMENT_TIMEOUT_MS', '5000')}"]
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# In development (`make run` sets DEBUG=1) a line per page, not per stylesheet, script, icon, health probe or a
# watching page's poll of a task's status (one every few seconds).
QUIET_PATHS = (
    ("/static/", "/favicon.ico", "/healthz")
    if os.environ.get("DEBUG", "").lower() in {"1", "true", "yes", "on"}
    else ()
)


class Logger(glogging.Logger):
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        path = str(req.path)
        if QUIET_PATHS and (path.startswith(QUIET_PATHS) or path.endswith("/status/")):
            return
        super().access(resp, req, environ, request_time)

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        # "Listening at:  (pid)", empty with reuse_port: on_starting below names the address instead.
        if msg.startswith("Listening at: ") and args and not args[0]:
            return
        super().info(msg, *args, **kwargs)


logger_class = Logger


def on_starting(server: Any) -> None:
    """Refuse to start when something already listens on our port.

    SO_REUSEPORT would let this server share the port with another one that
    set it too, such as an earlier gunicorn still running: the kernel would
    then split the connections between the old code and the new. A bind
    without the flag fails while any socket listens on the port.
    """
    for address in server.cfg.address:
        if not isinstance(address, tuple):
            continue  # a Unix socket: gunicorn itself refuses one in use
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT don't count
            try:
                probe.bind(address)
            except OSError as error:
                sys.exit(f"Cannot listen on {address[0]}:{address[1]}: {error.strerror}. Is another server running?")
        # gunicorn's own "Listening at:" line is empty with reuse_port: the workers bind, not the master.
        server.log.info("Listening at http://%s:%s (each worker binds it, SO_REUSEPORT)", *address[:2])
