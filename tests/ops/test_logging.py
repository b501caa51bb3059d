"""Log lines carry the task id and the schedule slot; production writes key=value, development stays readable."""

import json
import logging
import re
from types import SimpleNamespace

import pytest

from musicdrops import logs
from tests.ops.test_settings import PRODUCTION, run_django


def record(message: str = "sent %d emails", *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    item = logging.LogRecord("musicdrops.drops", logging.INFO, __file__, 1, message, args or (3,), exc_info)
    assert logs.ContextFilter().filter(item)
    return item


@pytest.fixture
def running_task(monkeypatch):
    """Inside a worker, running a dispatch our beat stamped (the entry and slot: tests/scheduler/test_slots.py)."""
    task = SimpleNamespace(name="musicdrops.drops.tasks.send_music_drops_task",
                           request=SimpleNamespace(id="4b1c-task-id"))  # fmt: skip
    monkeypatch.setattr(logs, "current_task", task)
    with logs.log_context(entry="send-music-drops", slot="2026-11-21T07:00:00+00:00"):
        yield


def test_inside_a_task_every_line_carries_task_id_entry_and_slot(running_task):
    line = logs.PlainFormatter().format(record())

    assert line.endswith(
        "sent 3 emails [task_id=4b1c-task-id task=musicdrops.drops.tasks.send_music_drops_task "
        "entry=send-music-drops slot=2026-11-21T07:00:00+00:00]"
    )


def test_log_context_adds_fields_for_the_block_only():
    with logs.log_context(entry="sync-stale-artists", slot="2026-11-21T07:02:00+00:00"):
        inside = record()
    outside = record()

    assert inside.context == {"entry": "sync-stale-artists", "slot": "2026-11-21T07:02:00+00:00"}  # type: ignore[attr-defined]
    assert outside.context == {}  # type: ignore[attr-defined]
    assert logs.PlainFormatter().format(outside).endswith("sent 3 emails")


def test_logfmt_is_one_parseable_line_even_with_quotes_newlines_and_a_traceback(running_task):
    line = logs.make_formatter("logfmt").format(record('say "hi"\nthen %d', exc=True))

    assert "\n" not in line
    pairs = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line))
    assert json.loads(pairs["msg"]) == 'say "hi"\nthen 3'
    assert pairs["level"] == "INFO"
    assert pairs["task_id"] == "4b1c-task-id"
    assert pairs["slot"] == "2026-11-21T07:00:00+00:00"
    assert "release" in pairs
    assert "ValueError: boom" in json.loads(pairs["exc_info"])


def test_json_lines(running_task):
    fields = json.loads(logs.make_formatter("json").format(record()))

    assert fields | {"time": None, "release": None} == {
        "time": None, "level": "INFO", "logger": "musicdrops.drops", "msg": "sent 3 emails", "release": None,
        "task_id": "4b1c-task-id", "task": "musicdrops.drops.tasks.send_music_drops_task",
        "entry": "send-music-drops", "slot": "2026-11-21T07:00:00+00:00",
    }  # fmt: skip


def test_production_logs_are_logfmt_with_the_release_and_development_logs_plain():
    code = "import logging; logging.getLogger('musicdrops.test').warning('hello %s', 'there')"

    production = run_django(code, **PRODUCTION, HEROKU_RELEASE_VERSION="v42")
    development = run_django(code, DEBUG="1")

    assert re.search(r'^time=\S+ level=WARNING logger=musicdrops.test msg="hello there" release=v42$',
                     production.stderr, re.M), production.stderr  # fmt: skip
    assert re.search(r"^\S+ \S+ WARNING musicdrops.test hello there$", development.stderr, re.M), development.stderr


def test_an_unknown_log_format_is_refused():
    assert "LOG_FORMAT must be" in run_django("", DEBUG="1", LOG_FORMAT="xml").stderr


def test_sentry_only_when_a_dsn_is_set_and_then_with_django_and_celery():
    code = (
        "import sentry_sdk; client = sentry_sdk.get_client()\n"
        "print(client.is_active(), sorted(n for n in ('django', 'celery') if n in client.integrations))"
    )

    assert run_django(code, **PRODUCTION).stdout.strip() == "False []"
    enabled = run_django(code, **PRODUCTION, SENTRY_DSN="https://public@127.0.0.1:9/1")
    assert enabled.stdout.strip() == "True ['celery', 'django']", enabled.stderr


def test_a_bad_host_header_is_one_warning_line_and_nothing_for_sentry():
    import gzip
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    envelopes: list[bytes] = []

    class Sentry(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            envelopes.append(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sentry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    code = (
        "import logging, sentry_sdk\n"
        "from django.test import Client\n"
        "print(Client(raise_request_exception=False).get('/', HTTP_HOST='evil.example').status_code)\n"
        "logging.getLogger('musicdrops.test').error('a real error')\n"
        "sentry_sdk.flush(5)\n"
    )
    try:
        result = run_django(code, **PRODUCTION, SECURE_SSL_REDIRECT="0",
                            SENTRY_DSN=f"http://public@127.0.0.1:{server.server_port}/1")  # fmt: skip
    finally:
        server.shutdown()

    assert result.stdout.strip() == "400", result.stderr
    assert re.search(r"^time=\S+ level=WARNING logger=django.security.DisallowedHost msg=", result.stderr, re.M)
    assert "Traceback" not in result.stderr
    # The real error reached Sentry (the SDK may batch it with other envelopes); the bad host never did.
    assert any(b"a real error" in envelope for envelope in envelopes), envelopes
    assert not any(b"DisallowedHost" in envelope or b"evil.example" in envelope for envelope in envelopes)


def celery_record(logger: str, message: str, args: dict[str, object], level: int = logging.INFO) -> logging.LogRecord:
    item = logging.LogRecord(logger, level, __file__, 1, message, (args,), None)
    item.data = args  # Celery's extra
    assert logs.ContextFilter().filter(item)
    return item


SUCCEEDED = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"


def succeeded(task: str, returned: str) -> logging.LogRecord:
    return celery_record(
        "celery.app.trace", SUCCEEDED, {"name": task, "id": "t1", "runtime": 0.01, "return_value": returned}
    )


@pytest.mark.parametrize(
    ("item", "shown"),
    [
        (succeeded("musicdrops.ops.tasks.ping_queue_task", "None"), False),
        (succeeded("musicdrops.drops.tasks.sweep_music_drops_task", "0"), False),
        (succeeded("musicdrops.catalog.tasks.sync_stale_artists_task", "{'synced': 0, 'failed': 0}"), False),
        (succeeded("musicdrops.catalog.tasks.sync_stale_artists_task", "{'synced': 2, 'failed': 0}"), True),
        (succeeded("musicdrops.accounts.tasks.send_verification_email_task", "None"), True),  # not periodic
        (celery_record("celery.worker.strategy", "Task %(name)s[%(id)s] received", {"name": "x", "id": "t1"}), False),
        (celery_record("celery.beat", "Scheduler: Sending due task ping-drops (x)", {}), False),
    ],
)
def test_routine_lines_are_debug_and_a_task_that_did_something_is_one_line(item, shown):
    logging.getLogger(item.name).setLevel(logging.INFO)

    assert logs.QuietWhenIdle().filter(item) is shown
    assert item.levelname == ("INFO" if shown else "DEBUG")


def test_with_log_level_debug_routine_lines_show_again():
    item = succeeded("musicdrops.ops.tasks.ping_queue_task", "None")
    logging.getLogger("celery.app.trace").setLevel(logging.DEBUG)
    try:
        assert logs.QuietWhenIdle().filter(item) is True
    finally:
        logging.getLogger("celery.app.trace").setLevel(logging.NOTSET)
    assert item.levelname == "DEBUG"


def test_a_beat_dispatch_is_debug_for_frequent_entries_and_info_for_the_send_and_a_run_now():
    def dispatched(entry: str, by_hand: str = "") -> logging.LogRecord:
        with logs.log_context(entry=entry, slot="2026-11-21T07:00:00+00:00"):
            message, args = "dispatched %s%s (task %s)", ("musicdrops.x", by_hand, "t1")
            item = logging.LogRecord("musicdrops.scheduler.beat", logging.INFO, __file__, 1, message, args, None)
            assert logs.ContextFilter().filter(item)
        return item

    assert logs.QuietWhenIdle().filter(dispatched("ping-regular")) is False
    assert logs.QuietWhenIdle().filter(dispatched("sync-stale-artists")) is False
    assert logs.QuietWhenIdle().filter(dispatched("send-music-drops")) is True
    assert logs.QuietWhenIdle().filter(dispatched("ping-regular", " (run now)")) is True


def test_an_expected_failure_is_one_plain_line_and_the_structured_ones_keep_every_field():
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nRefreshFailed: MusicBrainz is not answering'
    item = celery_record(
        "celery.app.trace", "Task %(name)s[%(id)s] %(description)s: %(exc)s",
        {"name": "refresh_library_task", "id": "t1", "description": "raised expected", "exc": "RefreshFailed('down')",
         "traceback": traceback},
    )  # fmt: skip

    plain = logs.PlainFormatter().format(item)
    assert "\n" not in plain
    assert "Traceback" not in plain
    assert plain.endswith("Task refresh_library_task[t1] raised expected: RefreshFailed('down')")
    assert json.loads(logs.make_formatter("json").format(item))["data"]["traceback"] == traceback
    assert "Traceback" in logs.make_formatter("logfmt").format(item)


def test_the_dev_access_log_leaves_out_static_files_and_health_probes_and_the_empty_listening_line(monkeypatch):
    import runpy

    from gunicorn import glogging  # type: ignore[import-untyped]

    from musicdrops.settings import BASE_DIR

    monkeypatch.setenv("DEBUG", "1")
    config = runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))
    logged: list[str] = []
    monkeypatch.setattr(glogging.Logger, "access", lambda self, resp, req, environ, took: logged.append(req.path))
    monkeypatch.setattr(glogging.Logger, "info", lambda self, msg, *args, **kwargs: logged.append(msg % args))
    logger = config["Logger"].__new__(config["Logger"])

    polls = ("/jobs/2f1c4e1a-5b7e-4c1e-9d2a-1f0e8b7c6d5a/status/", "/library/import/3/status/")
    for path in ("/static/css/site.css", "/healthz", *polls, "/dashboard/", "/accounts/login/"):
        logger.access(None, SimpleNamespace(path=path), {}, None)
    logger.info("Listening at: %s (%s)", "", 123)
    logger.info("Listening at: %s (%s)", "http://0.0.0.0:8000", 123)

    assert logged == ["/dashboard/", "/accounts/login/", "Listening at: http://0.0.0.0:8000 (123)"]
    monkeypatch.setenv("DEBUG", "0")
    assert runpy.run_path(str(BASE_DIR / "gunicorn.conf.py"))["QUIET_PATHS"] == ()  # production logs every request


def test_the_hourly_send_says_it_ran_even_when_nobody_was_due():
    item = succeeded("musicdrops.drops.tasks.send_music_drops_task", "0")
    logging.getLogger(item.name).setLevel(logging.INFO)

    assert logs.QuietWhenIdle().filter(item) is True
