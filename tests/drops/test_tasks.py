import pytest
from redis import ConnectionError as RedisConnectionError

from musicdrops.drops import chunk, tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("error", [RedisConnectionError("Redis went away"), OSError("connection reset")])
def test_a_chunk_that_meets_a_passing_outage_is_retried_not_dropped(monkeypatch, settings, error):
    settings.DROPS_RETRY_BACKOFF_MAX = 0
    calls = []

    def send(**kwargs):
        calls.append(kwargs["token"])
        if len(calls) == 1:
            raise error
        return chunk.ChunkOutcome(sent=kwargs["last"] - kwargs["first"] + 1)

    monkeypatch.setattr(chunk, "drop_chunk_send", send)

    result = tasks.send_drop_chunk_task.apply(
        kwargs={"slot": "2026-06-01T08:00:00+00:00", "first": 1, "last": 2}, task_id="chunk-1"
    )

    assert result.get() == 2
    assert len(set(calls)) == 2  # each attempt fences its claims with a token of its own


def test_retries_have_no_count_limit_but_stop_after_the_retry_window(monkeypatch, settings):
    settings.DROPS_RETRY_BACKOFF_MAX = 0
    calls = []

    def send(**kwargs):
        calls.append(1)
        raise OSError("still down")

    monkeypatch.setattr(chunk, "drop_chunk_send", send)
    settings.DROPS_RETRY_HOURS = 0  # the window has passed at the first retry

    result = tasks.send_drop_chunk_task.apply(kwargs={"slot": "2026-06-01T08:00:00+00:00", "first": 1, "last": 1})

    assert result.get() == 0
    assert len(calls) == 1
    assert tasks.send_drop_chunk_task.max_retries is None


def test_handed_back_users_are_retried_as_the_same_task_over_only_their_range(monkeypatch, settings):
    settings.DROPS_RETRY_BACKOFF_MAX = 0
    seen = []

    def send(**kwargs):
        seen.append((kwargs["slot"].isoformat(), kwargs["first"], kwargs["last"]))
        if len(seen) == 1:
            return chunk.ChunkOutcome(sent=1, later=[2, 3], time_up=True)
        return chunk.ChunkOutcome(sent=kwargs["last"] - kwargs["first"] + 1)

    monkeypatch.setattr(chunk, "drop_chunk_send", send)

    slot = "2026-06-01T08:00:00+00:00"
    assert tasks.send_drop_chunk_task.apply(kwargs={"slot": slot, "first": 1, "last": 3}).get() == 2
    assert seen == [(slot, 1, 3), (slot, 2, 3)]


def test_a_provider_that_says_when_is_retried_no_sooner(monkeypatch, settings):
    from musicdrops.drops.mailer import TryLater

    settings.DROPS_RETRY_BACKOFF_MAX = 0
    monkeypatch.setattr(chunk, "drop_chunk_send", lambda **kwargs: (_ for _ in ()).throw(TryLater("429", 30.0)))
    retried: list[dict[str, object]] = []

    def retry(**kwargs: object) -> Exception:
        retried.append(kwargs)
        return RuntimeError("retried")

    monkeypatch.setattr(tasks.send_drop_chunk_task, "retry", retry)

    with pytest.raises(RuntimeError, match="retried"):
        tasks.send_drop_chunk_task.run(slot="2026-06-01T08:00:00+00:00", first=1, last=1)

    assert retried[0]["countdown"] == 30.0
