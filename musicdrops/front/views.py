from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from musicdrops.accounts.models import User
from musicdrops.catalog import selectors
from musicdrops.catalog.models import Follow
from musicdrops.drops.preview import drop_status


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("front:dashboard")
    return render(request, "front/home.html")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    feed = selectors.feed_for_user(user=request.user, today=timezone.localdate())
    page = Paginator(feed, 25).get_page(request.GET.get("page"))
    following = Follow.objects.filter(user=request.user).count()
    context = {
        "page": page,
        "following": following,
        "today": timezone.localdate(),
        "drop": drop_status(user=request.user, now=timezone.now()) if following else None,
        "timeout_seconds": settings.TASK_POLL_TIMEOUT_SECONDS,
    }
    return render(request, "front/dashboard.html", context)
