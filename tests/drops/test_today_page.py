"""Today's email in the browser: the same email the send builds, framed safely."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from musicdrops.catalog.models import Artist, Follow, ReleaseGroup
from musicdrops.drops.preview import next_delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def new_release(user) -> ReleaseGroup:
    artist = Artist.objects.create(mbid="00000000-0000-4000-8000-000000000009", name="<i>Motörhead</i>")
    Follow.objects.create(user=user, artist=artist)
    rg = ReleaseGroup.objects.create(
        mbid="30000000-0000-4000-8000-000000000001", title="Ace of <Spades>", kind="album", primary_type="Album",
        first_release_date=timezone.localdate(), date_precision="day",
    )  # fmt: skip
    rg.artists.add(artist)
    return rg


def test_the_page_frames_todays_email(client, new_release, user):
    day, _ = next_delivery(after=timezone.now(), time_zone="UTC", hour=user.delivery_hour, digest="daily", weekday=None)

    page = client.get(reverse("drops:today")).content.decode()

    assert f"New music for {day:%B} {day.day}, {day.year}" in page
    assert f'src="{reverse("drops:today_email")}"' in page
    assert "sandbox=" in page


def test_the_email_is_escaped_and_locked_down(client, new_release):
    response = client.get(reverse("drops:today_email"))

    body = response.content.decode()
    assert response.status_code == 200
    assert "Ace of &lt;Spades&gt;" in body
    assert "<Spades>" not in body
    assert "&lt;i&gt;Motörhead&lt;/i&gt;" in body
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # falls back to 'none'
    assert "sandbox" in csp
    assert "frame-ancestors 'self'" in csp
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_the_rest_of_the_site_keeps_its_strict_policy(client, new_release):
    response = client.get(reverse("drops:today"))

    assert "style-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_nothing_new_today_says_there_is_no_email(client, new_release):
    ReleaseGroup.objects.update(first_release_date=timezone.localdate() - dt.timedelta(days=30))

    page = client.get(reverse("drops:today")).content.decode()

    assert 'data-reason="nothing-new"' in page
    assert "Nothing new from the artists you follow yet, so no email." in page
    assert client.get(reverse("drops:today_email")).status_code == 404


def test_someone_else_sees_their_own_email_not_yours(client, new_release):
    from musicdrops.accounts.models import User

    other = User.objects.create_user("other@example.com", "long-enough-password", email_verified_at=timezone.now())
    client.force_login(other)

    assert client.get(reverse("drops:today_email")).status_code == 404
    assert "Ace of" not in client.get(reverse("drops:today")).content.decode()


def test_logged_out_it_asks_to_log_in(client, new_release):
    client.logout()

    assert client.get(reverse("drops:today_email"))["Location"].startswith(reverse("accounts:login"))
