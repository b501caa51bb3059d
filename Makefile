# MusicDrops: `make run` starts the whole app, `make test` runs every check.
SHELL := /bin/sh
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
VNU := node_modules/vnu-jar/build/dist/vnu.jar

.PHONY: run flower superuser test lint pytest bench bench-scale bench-queues bench-web bench-catalog bench-search screenshots image image-test rename install clean

run: $(INSTALLED)  ## Start web, beat and the three workers (and a private Redis if REDIS_URL is unset)
	$(PY) scripts/devstack.py

# Flower against the stack make run started (its private Redis, or REDIS_URL's), on loopback only:
# http://127.0.0.1:5555 (FLOWER_PORT to change it). Its API needs no login only for a Redis on this
# machine (FLOWER_UNAUTHENTICATED_API); a deployed app's needs FLOWER_BASIC_AUTH=user:password.
# The platforms, and what it costs in Redis connections: docs/operators.md.
flower: $(INSTALLED)
	$(PY) scripts/flower.py

# An admin of your own in make run's database; it asks for an email and a password
# (DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD answer without asking).
superuser: $(INSTALLED)
	@DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput --verbosity 0
	DEBUG=$${DEBUG:-1} $(PY) manage.py createsuperuser $(if $(DJANGO_SUPERUSER_PASSWORD),--noinput)

test: lint pytest  ## The whole suite: lint, types, tests

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	# The django-stubs plugin imports the settings: development ones will do.
	DEBUG=1 $(VENV)/bin/mypy .
	$(VENV)/bin/hadolint Dockerfile
	$(VENV)/bin/deptry .
	find musicdrops tests bench scripts *.py -name '*.py' -print0 | xargs -0 $(VENV)/bin/django-upgrade --target-version 6.1 --check

pytest: $(INSTALLED) $(VNU)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The Nu HTML Checker for tests/test_html_valid.py, from npm (package.json); it runs on Java.
# Without npm the test says it is skipped, and why.
$(VNU): package.json
	@if command -v npm >/dev/null 2>&1; then npm install --no-audit --no-fund --loglevel error && touch $@; \
	else echo "npm not found: tests/test_html_valid.py will be skipped (install Node.js with npm, and Java)"; fi

# The daily send end to end (PostgreSQL, Redis, a real worker, SMTP on loopback:
# Postfix's smtp-sink, from Debian's postfix package) against a one-task-per-user
# baseline; prints emails/s and the CPU ms per email of each process group.
# Uses its own database (musicdrops_bench) and Redis database 14 unless
# DATABASE_URL / REDIS_URL say otherwise. BENCH_ARGS="--help" for the options.
bench: $(INSTALLED)
	$(PY) -m bench.daily_send $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-queues bench-web

# One slot of a million fans, 250,000 suppressed addresses, a ledger with history: bench/scale.py.
bench-scale: $(INSTALLED)
	$(PY) -m bench.scale $(BENCH_ARGS)

# With 10,000 regular tasks queued, how fast important tasks finish; Redis memory
# after 100,000 tasks (a Redis of its own unless REDIS_URL is set).
bench-queues: $(INSTALLED)
	$(PY) -m bench.queues

# /healthz and the task-status endpoint through gunicorn, loaded by ab (apache2-utils).
bench-web: $(INSTALLED)
	$(PY) -m bench.web

# The catalogue at 10,000 / 100,000 / 1,000,000 followed artists: requests a day and
# release-to-catalogue times of the per-artist browse and the batched search, against
# the replay server on a simulated clock (docs/catalog.md). BENCH_ARGS="--help" for the options.
bench-catalog: $(INSTALLED)
	$(PY) -m bench.catalog_scale $(BENCH_ARGS)

# A person's artist search through gunicorn while syncs keep the MusicBrainz budget busy:
# p50 and p95 of a new query, the same again (cached), and a new one with the lane off.
bench-search: $(INSTALLED)
	$(PY) -m bench.search $(BENCH_ARGS)

# The README's pictures (docs/images/), from the running app in Debian's chromium.
screenshots: $(INSTALLED)
	$(PY) scripts/screenshots.py

# The production image, built with docker (or podman where docker is missing).
image: $(INSTALLED)
	$(PY) scripts/image.py build

# Build it, then run every process type from it against the PostgreSQL and Redis that
# DATABASE_URL and REDIS_URL name (in a database of its own): a small daily drop, /healthz,
# static files, the non-root user, no error at start, SIGTERM. Says so where it cannot run.
image-test: $(INSTALLED)
	$(PY) scripts/image.py test

# Make a clone your own project (see docs/rename.md):
#   make rename NAME=tune_alert TITLE="Tune Alert"
rename: $(INSTALLED)
	$(PY) scripts/rename.py "$(NAME)" $(if $(TITLE),--name "$(TITLE)")

install: $(INSTALLED)

# A venv from a real Python 3.12+ (scripts/find-python tries each candidate),
# rebuilt if it was made by an older one; reinstalled when requirements change.
$(PY):
	@python=$$(scripts/find-python) || exit 1; \
	echo "Creating $(VENV) with $$python"; \
	rm -rf $(VENV) && "$$python" -m venv $(VENV)

$(INSTALLED): $(PY) requirements.txt requirements-dev.txt
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { \
		echo "$(VENV) was made by an older Python; recreating it"; rm -rf $(VENV); $(MAKE) $(PY); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

clean:
	rm -rf $(VENV) staticfiles .mypy_cache .ruff_cache .pytest_cache node_modules
