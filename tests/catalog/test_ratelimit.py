"""The shared rate limiter: spacing by Redis's clock, pauses that reach everyone, timeouts that take no slot."""

import itertools
import threading
import time

import pytest
import redis
from django.conf import settings

from musicdrops.catalog.ratelimit import RateLimiter, RateLimitTimeout

KEY = "test:ratelimit"


def redis_now(client: redis.Redis) -> float:
    seconds, microseconds = client.time()
    return seconds + microseconds / 1_000_000


def other_process_client() -> redis.Redis:
    """A separate connection, as another process would have."""
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def test_acquires_from_several_threads_and_clients_are_spaced_by_the_interval(redis_client):
    per_second = 10.0
    interval = 1 / per_second
    clients = [redis_client, other_process_client()]
    limiters = [RateLimiter(KEY, per_second, client=c) for c in clients]
    started_at: list[float] = []
    lock = threading.Lock()

    def worker(limiter: RateLimiter, client: redis.Redis) -> None:
        for _ in range(3):
            limiter.acquire()
            now = redis_now(client)
            with lock:
                started_at.append(now)

    threads = [threading.Thread(target=worker, args=(limiters[n % 2], clients[n % 2])) for n in range(4)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    elapsed = time.monotonic() - began

    started_at.sort()
    gaps = [b - a for a, b in itertools.pairwise(started_at)]
    print(f"12 acquires at {per_second}/s: min gap {min(gaps):.3f} s, total {elapsed:.2f} s")
    assert len(started_at) == 12
    # Each caller reads Redis's clock after its sleep, so a little scheduling
    # jitter is in these times; the slots themselves are exact.
    assert min(gaps) >= interval * 0.85
    assert started_at[-1] - started_at[0] >= 11 * interval * 0.97
    clients[1].close()


def test_a_free_limiter_does_not_wait(redis_client):
    limiter = RateLimiter(KEY, 1.0, client=redis_client)

    assert limiter.acquire() == 0.0


def test_the_second_caller_waits_one_interval(redis_client):
    limiter = RateLimiter(KEY, 5.0, client=redis_client)
    limiter.acquire()

    began = time.monotonic()
    waited = limiter.acquire()

    assert 0.15 <= waited <= 0.2
    assert time.monotonic() - began >= 0.15


def test_pause_delays_every_limiter_on_the_key(redis_client):
    ours = RateLimiter(KEY, 1000.0, client=redis_client)
    another_process = RateLimiter(KEY, 1000.0, client=other_process_client())

    ours.pause(0.4)
    began = time.monotonic()
    waited = another_process.acquire()

    assert 0.35 <= waited <= 0.4
    assert time.monotonic() - began >= 0.35


def test_pause_never_moves_the_next_slot_earlier(redis_client):
    limiter = RateLimiter(KEY, 1000.0, client=redis_client)
    sleeps: list[float] = []
    recording = RateLimiter(KEY, 1000.0, client=redis_client, sleep=sleeps.append)

    limiter.pause(30)
    limiter.pause(0.1)
    recording.acquire()

    assert sleeps[0] > 29


def test_timeout_raises_without_waiting_or_taking_a_slot(redis_client):
    limiter = RateLimiter(KEY, 1.0, client=redis_client)
    sleeps: list[float] = []
    recording = RateLimiter(KEY, 1.0, client=redis_client, sleep=sleeps.append)
    limiter.acquire()

    began = time.monotonic()
    with pytest.raises(RateLimitTimeout) as raised:
        limiter.acquire(timeout=0.1)
    assert time.monotonic() - began < 0.1
    assert 0.9 < raised.value.wait <= 1.0

    # The refused caller left no slot behind: the next one is still one interval away, not two.
    recording.acquire(timeout=5)
    assert 0.9 < sleeps[0] <= 1.0


def test_the_key_expires_once_it_no_longer_matters(redis_client):
    limiter = RateLimiter(KEY, 2.0, client=redis_client)
    limiter.acquire()

    ttl_ms = redis_client.pttl(KEY)

    assert 0 < ttl_ms <= 500 + 1000


def test_spacing_uses_redis_time_not_the_callers_clock(redis_client, monkeypatch):
    """Two processes whose clocks disagree by an hour still share one budget."""
    limiter = RateLimiter(KEY, 5.0, client=redis_client)
    limiter.acquire()
    monkeypatch.setattr(time, "time", lambda: 3600.0)

    waited = limiter.acquire()

    assert 0.15 <= waited <= 0.2


@pytest.mark.parametrize("per_second", [0, -1, float("inf"), float("nan")])
def test_a_nonsense_rate_is_refused(redis_client, per_second):
    with pytest.raises(ValueError, match="per_second"):
        RateLimiter(KEY, per_second, client=redis_client)


def test_a_person_goes_ahead_of_the_background_and_the_background_gives_the_slot_up(redis_client):
    limiter = RateLimiter(KEY, 2.0, client=redis_client, ahead_per_second=0.5, ahead_burst=2, sleep=lambda s: None)
    background = [limiter.acquire() for _ in range(4)]  # four slots booked: the next is 2 s away
    assert background[-1] == pytest.approx(1.5, abs=0.05)

    assert limiter.acquire(ahead=True) == 0  # at once, not in 2 s
    assert limiter.acquire(ahead=True) == 0  # the burst of 2
    # Each took a slot the background now waits for: the average stays at the rate.
    assert limiter.acquire() == pytest.approx(3.0, abs=0.05)
    # The lane's allowance is spent: the next person queues like everyone else.
    assert limiter.acquire(ahead=True) == pytest.approx(3.5, abs=0.05)


def test_without_a_lane_ahead_means_nothing(redis_client):
    limiter = RateLimiter(KEY, 2.0, client=redis_client, sleep=lambda s: None)
    assert [limiter.acquire(ahead=n % 2 == 1) for n in range(3)] == pytest.approx([0, 0.5, 1.0], abs=0.05)
