"""What /metrics says, in Prometheus's text format: read from Redis and PostgreSQL at each scrape.

Every figure is shared state, not a counter kept in one process, so one scrape of any web
process sees the whole app: the queues, the beats and the lock, the schedule, each day's send,
the MusicBrainz budget, and the status and problems musicdrops/ops/health.py judges.
"""

import datetime as dt
from collections.abc import Iterator

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from musicdrops import rejected_messages
from musicdrops.catalog.musicbrainz import RATE_LIMIT_KEY
from musicdrops.drops.fanout import slot_label
from musicdrops.drops.models import Delivery, DropSend
from musicdrops.ops import health
from musicdrops.redis_client import get_client
from musicdrops.scheduler import selectors

HOURS_SHOWN = 24  # the last day's slots


def _seconds(moment: dt.datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


class AppCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        report = health.check()
        overview = selectors.scheduler_overview(duplicates_shown=0)
        yield from self._queues(report.queues)
        yield from self._beats(overview)
        yield from self._schedule(overview.entries)
        yield from self._sends(report.drops)
        yield self._musicbrainz_backlog()
        if report.rejected is not None:
            yield from self._rejected(report.rejected)
        problems = GaugeMetricFamily("musicdrops_problem", "A problem /healthz reports now (1).", labels=["problem"])
        for problem in report.problems:
            problems.add_metric([problem], 1)
        yield problems
        status = GaugeMetricFamily("musicdrops_health", "/healthz's status (1 for the current one).", labels=["status"])
        for name in ("ok", "degraded", "failing"):
            status.add_metric([name], 1 if report.status == name else 0)
        yield status

    def _queues(self, queues: dict[str, health.QueueState]) -> Iterator[Metric]:
        depth = GaugeMetricFamily("musicdrops_queue_depth", "Messages waiting in a queue.", labels=["queue"])
        pinged = GaugeMetricFamily(
            "musicdrops_queue_ping_age_seconds", "Since a worker last took the queue's ping.", labels=["queue"]
        )
        stuck = GaugeMetricFamily(
            "musicdrops_queue_stuck", "1 while /healthz reports the queue stuck.", labels=["queue"]
        )
        for name, queue in queues.items():
            if queue.depth is not None:
                depth.add_metric([name], queue.depth)
            if queue.pinged_seconds_ago is not None:
                pinged.add_metric([name], queue.pinged_seconds_ago)
            stuck.add_metric([name], 1 if queue.stuck else 0)
        yield depth
        yield pinged
        yield stuck

    def _beats(self, overview: selectors.SchedulerOverview) -> Iterator[Metric]:
        beats = GaugeMetricFamily("musicdrops_beats", "Live beat processes by role.", labels=["role"])
        for role in ("active", "standby"):
            beats.add_metric([role], sum(1 for beat in overview.beats if beat.role == role))
        yield beats
        holder = overview.lock.beat
        lock = GaugeMetricFamily(
            "musicdrops_beat_lock_held", "1 while a beat holds RedBeat's lock, with who.", labels=["holder"]
        )
        lock.add_metric([holder.name if holder else ""], 1 if overview.lock.held else 0)
        yield lock
        yield GaugeMetricFamily(
            "musicdrops_duplicate_dispatches_unacknowledged",
            "Dispatches of a slot already run (or by a foreign scheduler) that nobody acknowledged.",
            value=overview.unacknowledged_duplicates,
        )

    def _schedule(self, entries: list[selectors.EntryStatus]) -> Iterator[Metric]:
        last = GaugeMetricFamily(
            "musicdrops_schedule_last_run_timestamp_seconds", "When an entry was last dispatched.", labels=["entry"]
        )
        following = GaugeMetricFamily(
            "musicdrops_schedule_next_run_timestamp_seconds", "When an entry is next due.", labels=["entry"]
        )
        runs = CounterMetricFamily(
            "musicdrops_schedule_runs", "Dispatches of an entry, run-now included.", labels=["entry"]
        )
        for entry in entries:
            if (at := _seconds(entry.last_run_at)) is not None:
                last.add_metric([entry.name], at)
            if (at := _seconds(entry.next_run_at)) is not None:
                following.add_metric([entry.name], at)
            runs.add_metric([entry.name], entry.total_run_count)
        yield last
        yield following
        yield runs

    def _sends(self, drops: health.Drops | None) -> Iterator[Metric]:
        # Read from the sends and the due rows alone: the cost stays the same however long the ledger grows.
        since = timezone.now() - dt.timedelta(hours=HOURS_SHOWN)
        sends = DropSend.objects.filter(slot__gte=since).order_by("slot")
        due = dict(
            Delivery.objects.filter(status=Delivery.Status.DUE, slot__gte=since)
            .values_list("slot")
            .annotate(users=Count("id"))
            .order_by()
        )
        queued = GaugeMetricFamily("musicdrops_drop_users_queued", "Users a slot's send queued.", labels=["slot"])
        waiting = GaugeMetricFamily("musicdrops_drop_users_due", "Users of a slot not sent yet.", labels=["slot"])
        for send in sends:
            label = slot_label(send.slot)
            queued.add_metric([label], send.queued)
            waiting.add_metric([label], due.get(send.slot, 0))
        yield queued
        yield waiting
        if drops is not None:
            yield GaugeMetricFamily(
                "musicdrops_drop_overdue_users",
                "Users due longer than DROPS_OVERDUE_SECONDS, and fan-outs started that long ago and unfinished.",
                value=drops.overdue,
            )

    def _rejected(self, counts: rejected_messages.Counts) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "musicdrops_rejected_messages",
            "Messages a worker refused and kept for an operator (manage.py rejected_messages).",
            value=counts.kept,
        )
        yield CounterMetricFamily(
            "musicdrops_messages_rejected", "Messages workers refused and kept, ever.", value=counts.total
        )

    def _musicbrainz_backlog(self) -> Metric:
        client = get_client()
        with client.pipeline(transaction=False) as pipe:
            pipe.get(RATE_LIMIT_KEY)
            pipe.time()
            booked, (seconds, microseconds) = pipe.execute()
        now = int(seconds) * 1_000_000 + int(microseconds)
        backlog = max(0, int(float(booked or 0)) - now) / 1_000_000
        return GaugeMetricFamily(
            "musicdrops_musicbrainz_backlog_seconds",
            "How far ahead the shared MusicBrainz budget (1 request/s) is already booked.",
            value=backlog,
        )


def registry() -> CollectorRegistry:
    """A registry of our figures alone (no process metrics: each scrape reaches a different process)."""
    found = CollectorRegistry(auto_describe=False)
    found.register(AppCollector())
    return found
