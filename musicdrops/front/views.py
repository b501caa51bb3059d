import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from musicdrops.accounts.decorators import login_required
from musicdrops.accounts.models import User
from musicdrops.catalog import selectors
from musicdrops.catalog.models import Follow, ReleaseGroup
from musicdrops.drops.preview import drop_status
from musicdrops.front.forms import FeedFilterForm
from musicdrops.jobs.selectors import job_status, watched_refresh

UPCOMING_ON_TOP = 10  # above the feed when it shows both; "when=upcoming" pages through them all


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("front:dashboard")
    return render(request, "front/home.html")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    today = timezone.localdate()
    filters = FeedFilterForm(request.GET, user=request.user)
    # A hand-made query string with an unknown kind or artist: the form says so, the feed stays whole.
    chosen = filters.cleaned_data if filters.is_valid() else {}
    narrowed = {k: chosen[k] for k in ("kind", "when") if chosen.get(k)}
    if chosen.get("artist") is not None:
        narrowed["artist"] = chosen["artist"]
    when = chosen.get("when", "")

    user = request.user

    def feed(part: str) -> QuerySet[ReleaseGroup]:
        return selectors.feed_for_user(
            user=user, today=today, kind=chosen.get("kind", ""), artist_id=chosen.get("artist"), when=part
        )

    # Both at once: the upcoming few on top (soonest first), what is out below, a page at a time.
    upcoming = list(feed("upcoming")[: UPCOMING_ON_TOP + 1]) if not when else []
    page = Paginator(feed(when or "out"), 25).get_page(request.GET.get("page"))
    following = Follow.objects.filter(user=request.user).count()
    refresh = watched_refresh(user_id=request.user.pk) if following else None
    context = {
        "page": page,
        "filters": filters,
        "narrowed": narrowed,
        "when": when,
        "upcoming": upcoming[:UPCOMING_ON_TOP],
        "more_upcoming": len(upcoming) > UPCOMING_ON_TOP,
        "upcoming_url": "?" + urlencode({**narrowed, "when": "upcoming"}),
        "extra_query": urlencode(narrowed),
        "following": following,
        "twins": selectors.twin_names(user=request.user) if following else set(),
        "today": today,
        "drop": drop_status(user=request.user, now=timezone.now()) if following else None,
        "timeout_seconds": settings.TASK_POLL_TIMEOUT_SECONDS,
        # A refresh still running: a reload shows its progress again.
        "refresh": refresh,
        "refresh_status": job_status(job=refresh) if refresh else None,
    }
    return render(request, "front/dashboard.html", context)


@login_required
def artist(request: HttpRequest, mbid: uuid.UUID) -> HttpResponse:
    """An artist we know: who they are, everything they released or announced, and follow or unfollow."""
    assert isinstance(request.user, User)
    found = selectors.artist_by_mbid(mbid=mbid)
    if found is None:
        raise Http404("We don't know that artist yet.")
    today = timezone.localdate()
    upcoming, released = selectors.artist_releases(artist=found, today=today)
    context = {
        "artist": found,
        "following": selectors.follows(user=request.user, artist=found),
        "upcoming": upcoming,
        "page": Paginator(released, 50).get_page(request.GET.get("page")),
        "page_artist": found,  # a release credited to this artist alone needs no "by"
        "twins": selectors.twin_names(user=request.user),
        "today": today,
    }
    return render(request, "front/artist.html", context)


@login_required
def release(request: HttpRequest, mbid: uuid.UUID) -> HttpResponse:
    """A release group: its cover, title, artists, kind and date, and where to hear more."""
    found = selectors.release_by_mbid(mbid=mbid)
    if found is None:
        raise Http404("We don't know that release.")
    return render(request, "front/release.html", {"release": found, "today": timezone.localdate()})
