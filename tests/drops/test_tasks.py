import pytest
from redis import ConnectionError as RedisConnectionError

from musicdrops.drops import services, tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("error", [RedisConnectionError("Redis went away"), OSError("connection reset")])
def test_a_chunk_that_meets_a_passing_outage_is_retried_not_dropped(monkeypatch, error):
    calls = []

    def send(**kwargs):
        calls.append(kwargs["task_id"])
        if len(calls) == 1:
            raise error
        return services.ChunkFigures(sent=len(kwargs["user_ids"]))

    monkeypatch.setattr(services, "drop_chunk_send", send)

    result = tasks.send_drop_chunk_task.apply(kwargs={"day": "2026-06-01", "user_ids": [1, 2]}, task_id="chunk-1")

    assert result.get() == 2
    assert calls == ["chunk-1", "chunk-1"]  # the same task id: it takes over its own claims
