"""The kept list of refused messages: bounded entries, a bounded list, counts, removal and requeueing."""

import json

import pytest
from django.conf import settings

from musicdrops import rejected_messages
from musicdrops.consumer import arguments_fit, envelope_problem
from musicdrops.drops.tasks import send_drop_chunk_task
from musicdrops.redis_client import get_client


def keep_unknown_task(*, queue: str = "regular", body: bytes = b"[[], {}, {}]") -> None:
    rejected_messages.rejected_message_keep(
        error="unknown task: 'no.such_task'",
        queue=queue,
        body=body,
        content_type="application/json",
        content_encoding="utf-8",
        headers={"lang": "py", "task": "no.such_task", "id": "1234"},
    )


def test_a_ten_megabyte_message_is_kept_as_its_first_kilobytes_and_its_size():
    keep_unknown_task(body=b'"' + b"x" * 10_000_000 + b'"')

    [raw] = get_client().lrange(settings.REJECTED_MESSAGES_KEY, 0, -1)
    assert len(raw) <= settings.REJECTED_MESSAGE_BYTES
    kept = rejected_messages.Kept.from_raw(raw)
    assert kept.body_size == 10_000_002
    assert kept.body.startswith('"xxx')
    assert not kept.complete
    assert not kept.requeueable(["regular"])


def test_bodies_that_are_not_text_or_full_of_escapes_stay_within_the_bound():
    rejected_messages.rejected_message_keep(error="not JSON", queue=None, body=bytes(range(256)) * 100)
    rejected_messages.rejected_message_keep(error="escapes", queue=None, body="\x00\u2603" * 10_000)
    rejected_messages.rejected_message_keep(error="headers", queue=None, body=b"", headers={"h": "x" * 10_000})

    raws = get_client().lrange(settings.REJECTED_MESSAGES_KEY, 0, -1)
    assert [len(raw) <= settings.REJECTED_MESSAGE_BYTES for raw in raws] == [True] * 3
    binary = rejected_messages.Kept.from_raw(raws[2])
    assert binary.body.encode(binary.body_encoding) == (bytes(range(256)) * 100)[: len(binary.body)]


def test_the_list_keeps_the_newest_and_counts_every_one(settings):
    settings.REJECTED_MESSAGES_KEPT = 3
    for _ in range(5):
        keep_unknown_task()

    counts = rejected_messages.rejected_messages_counts()
    assert (counts.kept, counts.total, counts.unacknowledged) == (3, 5, True)


def test_acknowledged_messages_stay_listed_until_removed_and_a_new_one_needs_a_look_again():
    keep_unknown_task()
    keep_unknown_task()
    rejected_messages.rejected_messages_acknowledge()
    assert not rejected_messages.rejected_messages_counts().unacknowledged

    [newest, oldest] = rejected_messages.rejected_messages_list(limit=10)
    assert rejected_messages.rejected_messages_remove(ids=[oldest.id, "no-such-id"]) == 1
    assert [kept.id for kept in rejected_messages.rejected_messages_list(limit=10)] == [newest.id]
    keep_unknown_task()
    assert rejected_messages.rejected_messages_counts().unacknowledged
    assert rejected_messages.rejected_messages_clear() == 2
    assert not rejected_messages.rejected_messages_counts().unacknowledged


def test_requeue_publishes_whole_json_task_messages_to_their_queue_and_keeps_the_rest():
    keep_unknown_task(queue="important")
    rejected_messages.rejected_message_keep(error="not JSON", queue="important", body=b"\x80 garbage")
    keep_unknown_task(queue="no-such-queue")

    assert rejected_messages.rejected_messages_requeue(queues=["regular", "important", "drops"]) == (1, 2)

    [item] = get_client().lrange("important", 0, -1)
    envelope = json.loads(item)
    assert envelope["headers"]["task"] == "no.such_task"
    assert envelope["content-type"] == "application/json"
    assert [kept.error for kept in rejected_messages.rejected_messages_list(limit=10)] == [
        "unknown task: 'no.such_task'",
        "not JSON",
    ]


def test_someone_elses_entry_in_the_list_is_shown_and_never_requeued():
    get_client().lpush(settings.REJECTED_MESSAGES_KEY, "not ours")

    [kept] = rejected_messages.rejected_messages_list(limit=10)
    assert kept.error == "not a kept-message record"
    assert not kept.requeueable(["regular"])


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ([1, 2], "a JSON list, not a message envelope"),
        ({"body": "x"}, "no properties"),
        ({"properties": {"delivery_tag": ["x"]}}, "no delivery_tag"),
        ({"properties": {"delivery_tag": "x", "delivery_info": {"exchange": ""}}}, "no delivery_info"),
        ({"properties": {"delivery_tag": "x", "delivery_info": {"exchange": "", "routing_key": "q"}}}, None),
    ],
)
def test_the_envelope_kombu_needs(payload, problem):
    assert envelope_problem(payload) == problem


def test_arguments_a_task_cannot_take():
    slot = "2026-01-01T09:00:00+00:00"
    assert arguments_fit(send_drop_chunk_task, [], {"slot": slot, "first": 1, "last": 2})
    assert not arguments_fit(send_drop_chunk_task, [], {"slot": slot})
    assert not arguments_fit(send_drop_chunk_task, [], {"slot": slot, "start": 1, "end": 2})
    assert not arguments_fit(send_drop_chunk_task, [slot, 1, 2, 3, 4], {})
    assert not arguments_fit(send_drop_chunk_task, 5, {})
    assert not arguments_fit(send_drop_chunk_task, [], [])
