"""The beat's scheduler: RedBeat plus a heartbeat.

RedBeat keeps the schedule in Redis and holds a lock (``redbeat::lock``)
while it dispatches, so a second beat waits as a standby instead of sending
everything twice. On top of that each beat, active or standby, publishes a
heartbeat from a background thread, because a standby is blocked waiting for
the lock and does not tick.
"""

import logging
import threading
from dataclasses import asdict
from typing import Any

from django.conf import settings
from redbeat import RedBeatScheduler

from musicdrops.scheduler import heartbeat, slots

logger = logging.getLogger(__name__)


class Scheduler(RedBeatScheduler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance = heartbeat.BeatInstance.current()
        self._stopped = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat_forever, name="beat-heartbeat", daemon=True)
        self._heartbeat.start()

    @property
    def role(self) -> str:
        return "active" if self.lock is not None else "standby"

    def _beat_forever(self) -> None:
        while not self._stopped.is_set():
            try:
                heartbeat.publish(self.instance, role=self.role)
            except Exception:  # Redis away: say so, keep trying
                logger.warning("beat heartbeat could not be published", exc_info=True)
            self._stopped.wait(settings.BEAT_HEARTBEAT_INTERVAL)

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any) -> Any:
        """Dispatch as RedBeat does, with the entry, its slot and this beat's identity in the headers."""
        headers = slots.stamp(
            entry=entry.name, slot=slots.slot_for(entry.schedule, self.app.now()), scheduler=asdict(self.instance)
        )
        # For this dispatch only: RedBeat saves an entry's run times, never its options.
        original = entry.options
        entry.options = {**original, "headers": {**original.get("headers", {}), **headers}}
        try:
            return super().apply_async(entry, producer, advance, **kwargs)
        finally:
            entry.options = original

    def close(self) -> None:
        self._stopped.set()
        try:
            heartbeat.withdraw(self.instance)
        except Exception:
            logger.warning("beat heartbeat could not be withdrawn", exc_info=True)
        super().close()
