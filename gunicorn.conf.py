"""Gunicorn settings for the web process (Procfile: web)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
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
# Workers are not recycled after N requests (gunicorn's max_requests stays 0).
# It guards against leaks we don't have, and costs: a new worker spends 0.8 s of
# CPU importing the app, and the keep-alive connections its predecessor held move
# to the other worker and stay there, which halved the throughput of a load test.
# Heroku restarts every dyno once a day anyway.
# The platform's router is the only client; trust its X-Forwarded-* headers.
forwarded_allow_ips = "*"
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
