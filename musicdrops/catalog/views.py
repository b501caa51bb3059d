from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from musicdrops.accounts.models import User
from musicdrops.catalog import selectors, services, tasks
from musicdrops.catalog.forms import ListenBrainzImportForm, NamesImportForm, PreferencesForm, SearchForm
from musicdrops.catalog.models import ImportJob
from musicdrops.catalog.musicbrainz import ArtistHit, MusicBrainzError, default_client


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
def library(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = SearchForm(request.GET or None)
    hits: list[ArtistHit] = []
    search_error = ""
    if form.is_valid():
        try:
            hits = selectors.artist_search(query=form.cleaned_data["q"], client=default_client(interactive=True))
        except MusicBrainzError:
            search_error = "MusicBrainz isn't answering right now. Please try again in a minute."
    page = Paginator(selectors.followed_artists(user=user), 50).get_page(request.GET.get("page"))
    following = selectors.followed_mbids(user=user)
    unfollowed = selectors.artist_by_id(request.GET.get("unfollowed", ""))
    if unfollowed is not None and str(unfollowed.mbid) in following:
        unfollowed = None  # followed again since
    return render(
        request,
        "catalog/library.html",
        {
            "form": form,
            "hits": hits,
            "searched": form.is_valid(),
            "search_error": search_error,
            "following": following,
            "page": page,
            "unfollowed": unfollowed,
        },
    )


@login_required
@require_POST
def follow(request: HttpRequest) -> HttpResponse:
    try:
        artist = services.artist_follow(
            user=_user(request),
            mbid=request.POST.get("mbid", ""),
            client=default_client(interactive=True),
            queue_sync=tasks.queue_artist_sync,
        )
    except services.FollowError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"You follow {artist.name}. Their releases will show up shortly.")
    return redirect("catalog:library")


@login_required
@require_POST
def unfollow(request: HttpRequest, artist_id: int) -> HttpResponse:
    if services.artist_unfollow(user=_user(request), artist_id=artist_id):
        # The library says whom, with an undo (a follow again, of an artist we know: no lookup).
        return redirect(f"{reverse('catalog:library')}?unfollowed={artist_id}")
    return redirect("catalog:library")


@login_required
def imports(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    lb_form = ListenBrainzImportForm(request.POST if "username" in request.POST else None)
    names_form = NamesImportForm(request.POST if "names" in request.POST else None)
    if request.method == "POST":
        for form, source, field in (
            (lb_form, ImportJob.Source.LISTENBRAINZ, "username"),
            (names_form, ImportJob.Source.NAMES, "names"),
        ):
            if form.is_bound and form.is_valid():
                try:
                    services.import_start(
                        user=user,
                        source=source,
                        query=form.cleaned_data[field],
                        queue_import=tasks.queue_import,
                        min_listens=form.cleaned_data.get("min_listens") or 0,
                    )
                except services.FollowError as error:
                    form.add_error(field, str(error))
                else:
                    messages.success(request, "Import started. Matching names takes about a second each.")
                    return redirect("catalog:imports")
    return render(
        request,
        "catalog/imports.html",
        {"lb_form": lb_form, "names_form": names_form, "jobs": selectors.imports_for(user=user)},
    )


@login_required
@require_POST
def import_choose(request: HttpRequest, job_id: int) -> HttpResponse:
    user = _user(request)
    get_object_or_404(ImportJob, pk=job_id, user=user)  # someone else's import: 404
    name = request.POST.get("name", "")
    if request.POST.get("skip"):
        services.import_dismiss(user=user, job_id=job_id, name=name)
        return redirect("catalog:imports")
    try:
        artist = services.import_choose(
            user=user,
            job_id=job_id,
            name=name,
            mbid=request.POST.get("mbid", ""),
            client=default_client(interactive=True),
            queue_sync=tasks.queue_artist_sync,
        )
    except services.FollowError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"You follow {artist.name}.")
    return redirect("catalog:imports")


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    current = services.preferences_for(user=user)
    data = request.POST if request.method == "POST" else None  # a POST with nothing ticked is still a POST
    form = PreferencesForm(data, initial={"kinds": current.wanted_kinds()})
    if request.method == "POST" and form.is_valid():
        kinds = set(form.cleaned_data["kinds"])
        services.preferences_update(user=user, kinds=kinds)
        if kinds:
            messages.success(request, "Saved. Your feed and your daily email follow these choices.")
        else:
            messages.warning(
                request, "Saved: you get no daily email and your feed stays empty until you tick something."
            )
        return redirect("catalog:preferences")
    return render(request, "catalog/preferences.html", {"form": form})
