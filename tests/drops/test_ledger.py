"""The ledger's rules (musicdrops/drops/models.py): queue once, claim only what is free, record only under the token."""

import datetime as dt

import pytest
from django.utils import timezone

from musicdrops.drops import models
from musicdrops.drops.models import DeliveredRelease, Delivery, Due
from tests.drops.test_send import DAY, SLOT, artist, listener, release

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fans() -> dict[int, list[int]]:
    """Three users, each due one release."""
    band = artist("Band", 1)
    new = release(band, "New")
    return {listener(f"fan{n}@example.com").pk: [new.pk] for n in range(3)}


def queue(wanted: dict[int, list[int]], *, reserve: float = 0) -> list[int]:
    now = timezone.now()
    due = {u: Due(day=DAY, period=str(DAY), weekly=False, message_id=f"<{u}@test>") for u in wanted}
    until = now + dt.timedelta(seconds=reserve)
    inserted = models.deliveries_insert(slot=SLOT, due=due, now=now, reserve_until=until)
    return models.deliveries_hold_releases(inserted=inserted, wanted=wanted)


def claim(user_ids: list[int], token: str, *, lease: float = 60) -> dict[int, models.Claim]:
    now = timezone.now()
    return models.deliveries_claim(
        slot=SLOT,
        first=min(user_ids),
        last=max(user_ids),
        token=token,
        now=now,
        lease_until=now + dt.timedelta(seconds=lease),
    )


def test_a_user_is_queued_once_per_day_with_the_releases_the_email_will_carry(fans):
    assert queue(fans) == sorted(fans)
    assert queue(fans) == []  # the unique (user, period) row

    assert Delivery.objects.filter(status="due", token="").count() == 3
    assert DeliveredRelease.objects.count() == 3


def test_a_user_whose_every_release_was_already_sent_gets_no_row(fans):
    [first, *_] = fans
    queue({first: fans[first]})
    Delivery.objects.update(period="2026-05-31")  # sent yesterday, and holds the release for good

    assert queue({first: fans[first]}) == []
    assert Delivery.objects.filter(period=str(DAY)).count() == 0


def test_two_attempts_split_the_rows_never_share_one(fans):
    users = queue(fans)

    first = claim(users[:2], "a")
    second = claim(users, "b")

    assert set(first) == set(users[:2])
    assert set(second) == {users[2]}  # a's claims are live: b gets only the free row
    assert {c.message_id for c in first.values()} == set(
        Delivery.objects.filter(user_id__in=users[:2]).values_list("message_id", flat=True)
    )


def test_a_claim_whose_lease_ran_out_is_free_and_its_old_token_can_record_nothing(fans):
    users = queue(fans)
    [held] = claim(users[:1], "zombie", lease=-1).values()

    assert list(claim(users[:1], "successor")) == users[:1]
    now = timezone.now()
    assert not models.delivery_mark_sent(delivery_id=held.delivery_id, token="zombie", now=now)
    assert models.delivery_mark_sent(delivery_id=held.delivery_id, token="successor", now=now)
    assert Delivery.objects.get(pk=held.delivery_id).status == "sent"


def test_released_rows_are_free_for_the_next_attempt_but_not_for_the_sweep_until_their_time(fans):
    users = queue(fans)
    claimed = claim(users, "a")
    now = timezone.now()
    later = now + dt.timedelta(minutes=5)

    assert (
        models.deliveries_release(token="a", delivery_ids=[c.delivery_id for c in claimed.values()], until=later) == 3
    )
    assert models.deliveries_reserve_free(slot=SLOT, now=now, until=later, limit=100) == []  # reserved until later
    assert set(claim(users, "b")) == set(users)  # but any attempt may take them


def test_a_failed_address_frees_its_releases_for_another_day(fans):
    users = queue(fans)
    [held] = claim(users[:1], "a").values()

    assert models.delivery_mark_failed(delivery_id=held.delivery_id, token="a", error="550 5.1.1 no such user")

    row = Delivery.objects.get(pk=held.delivery_id)
    assert (row.status, row.error) == ("failed", "550 5.1.1 no such user")
    assert not DeliveredRelease.objects.filter(delivery_id=held.delivery_id).exists()
