import datetime as dt
import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from musicdrops.ops import health
from musicdrops.scheduler import selectors

# --check exit statuses, for deploy scripts and container health checks.
EXIT = {"ok": 0, "degraded": 1, "failing": 2}


def ago(moment: dt.datetime | str | None, *, now: dt.datetime) -> str:
    if not moment:
        return "-"
    when = dt.datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    seconds = (now - when).total_seconds()
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def restore_text(restore: dict[str, Any], *, now: dt.datetime) -> str:
    at = dt.datetime.fromisoformat(restore["at"])
    kept = ["paused" if restore["paused"] else "not paused"]
    if restore["disabled"]:
        kept.append(f"disabled: {', '.join(restore['disabled'])}")
    kept.append(f"{restore['last_runs']} last runs")
    return (
        f"restored from the database after Redis lost the schedule at {at:%H:%M:%S} UTC ({ago(at, now=now)}), "
        f"by {restore['by']}: {len(restore['entries'])} entries, {'; '.join(kept)}"
    )


class Command(BaseCommand):
    help = (
        "Show the scheduler: live beats (who, which release, since when), the RedBeat lock holder, "
        "every periodic entry with its last and next run, duplicate dispatches, the daily send's progress, "
        "and each Celery queue's depth and when a worker last took its ping."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        parser.add_argument(
            "--check", action="store_true", help="exit 0 when ok, 1 when degraded, 2 when failing (as /healthz)"
        )

    def handle(self, *args: Any, json: bool, check: bool, **options: Any) -> None:
        overview = selectors.scheduler_overview()
        verdict = health.check()
        drops = verdict.drops
        report = {
            "status": verdict.status,
            "problems": verdict.problems,
            **selectors.overview_as_dict(overview),
            "drops": drops.as_dict() | {"overdue_users": drops.overdue_users} if drops else None,
            "queues": {name: queue.as_dict() for name, queue in verdict.queues.items()},
        }
        self.stdout.write(self.as_json(report) if json else "\n".join(self.as_text(report)))
        if check and report["status"] != "ok":
            raise SystemExit(EXIT[report["status"]])

    @staticmethod
    def as_json(report: dict[str, Any]) -> str:
        return json.dumps(report, indent=2)

    def as_text(self, report: dict[str, Any]) -> list[str]:
        now = timezone.now()
        problems = f" ({', '.join(report['problems'])})" if report["problems"] else ""
        lines = [f"Scheduler: {report['status']}{problems}"]
        pause = report["paused"]
        if pause:
            reason = f": {pause['reason']}" if pause["reason"] else ""
            lines.append(
                f"Schedule: PAUSED since {pause['since']} ({ago(pause['since'], now=now)}) by {pause['by']}{reason}"
            )
        else:
            lines.append("Schedule: running")
        if report["restored"]:
            lines.append(f"          {restore_text(report['restored'], now=now)}")

        beats = report["beats"]
        holder = report["lock"]["holder"]
        lines += ["", f"Live beats: {len(beats)}"]
        if beats:
            rows = [["ROLE", "HOST", "DYNO", "PID", "RELEASE", "COMMIT", "STARTED", "LAST SEEN"]]
            rows += [
                [
                    b["role"] + (" (lock)" if b["instance_id"] == holder else ""),
                    b["host"], b["dyno"] or "-", str(b["pid"]), b["release"], b["commit"] or "-",
                    b["started_at"], ago(b["seen_at"], now=now),
                ]
                for b in beats
            ]  # fmt: skip
            lines += table(rows)

        lock = report["lock"]
        if not lock["held"]:
            lines.append(f"Lock {lock['key']}: free (no beat is dispatching)")
        elif holder:
            who = next(b for b in beats if b["instance_id"] == holder)
            expires = f", expires in {lock['expires_in']:.1f} s unless renewed" if lock["expires_in"] else ""
            lines.append(f"Lock {lock['key']}: held by {who['dyno'] or who['host']} pid {who['pid']}{expires}")
        else:
            lines.append(f"Lock {lock['key']}: held by a process with no heartbeat (an old release? another app?)")

        lines += ["", "Entries:"]
        rows = [["NAME", "TASK", "SCHEDULE", "STATE", "LAST RUN", "NEXT RUN", "RUNS"]]
        for entry in report["entries"]:
            state = "enabled" if entry["enabled"] else "DISABLED"
            if not entry["enabled"] and entry["changed_by"]:
                state += f" by {entry['changed_by']}"
            if not entry["loaded"]:
                state = "not loaded by a beat yet"
            elif entry["run_now_requested_at"]:
                state += ", run now requested"
            next_run = "paused" if pause and entry["enabled"] else ago(entry["next_run_at"], now=now)
            task = entry["task"].rsplit(".", 1)[-1]
            rows.append(
                [entry["name"], task, entry["schedule"], state, ago(entry["last_run_at"], now=now), next_run,
                 str(entry["total_run_count"])]
            )  # fmt: skip
        lines += table(rows)

        lines += ["", *self.work_lines(report)]

        duplicates = report["duplicates"]
        lines += ["", f"Duplicate dispatches: {duplicates['unacknowledged_recent']} unacknowledged in the last 24 h"]
        if duplicates["latest"]:
            rows = [["WHEN", "ENTRY", "SLOT", "REASON", "SENT BY", "ACKNOWLEDGED"]]
            for d in duplicates["latest"]:
                sender = d["sent_by"] or {}
                sent_by = " ".join(
                    str(sender[key]) for key in ("dyno", "host", "pid", "release", "command") if sender.get(key)
                )
                rows.append(
                    [d["received_at"], d["entry"], d["slot"] or "-", d["reason"], sent_by or d["origin"] or "?",
                     d["acknowledged_by"] or "-"]
                )  # fmt: skip
            lines += table(rows)
        return lines

    @staticmethod
    def work_lines(report: dict[str, Any]) -> list[str]:
        drops = report["drops"]
        oldest = drops["oldest_overdue_seconds"]
        since = f" (the oldest for {_span(oldest)})" if oldest is not None else ""
        lines = [
            f"Drops: {drops['overdue_users']} users overdue, {drops['unfinished_fan_outs']} unfinished fan-outs{since}"
        ]
        rows = [["QUEUE", "WAITING", "PING TAKEN", ""]]
        for name, queue in report["queues"].items():
            ago = queue["pinged_seconds_ago"]
            taken = f"{_span(ago)} ago" if ago is not None else "never"
            rows.append([name, str(queue["depth"]), taken, "STUCK" if queue["stuck"] else ""])
        return [*lines, "Queues:", *table(rows)]
