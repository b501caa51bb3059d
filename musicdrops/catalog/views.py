from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from musicdrops.accounts.decorators import login_required
from musicdrops.accounts.models import User
from musicdrops.accounts.zones import cadence_name
from musicdrops.catalog import import_selectors, selectors, services, tasks
from musicdrops.catalog.forms import (
    DeezerImportForm,
    LastfmImportForm,
    ListenBrainzImportForm,
    NamesImportForm,
    PreferencesForm,
    SearchForm,
    import_choices,
)
from musicdrops.catalog.models import ImportJob
from musicdrops.catalog.musicbrainz import ArtistHit, MusicBrainzError, default_client
from musicdrops.responses import no_store


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
    known = selectors.known_mbids(mbids=[hit.mbid for hit in hits])  # those have a page of ours
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
            "known": known,
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
    return redirect(_back(request, reverse("catalog:library")))


@login_required
@require_POST
def unfollow(request: HttpRequest, artist_id: int) -> HttpResponse:
    back = _back(request, "")
    unfollowed = services.artist_unfollow(user=_user(request), artist_id=artist_id)
    if back:  # the artist's own page: its button says "Follow" again, which is the undo
        if unfollowed:
            messages.success(request, f"Unfollowed {selectors.artist_by_id(str(artist_id))}.")
        return redirect(back)
    if unfollowed:
        # The library says whom, with an undo (a follow again, of an artist we know: no lookup).
        return redirect(f"{reverse('catalog:library')}?unfollowed={artist_id}")
    return redirect("catalog:library")


def _back(request: HttpRequest, default: str) -> str:
    """The page the form was on (an artist page), if it is a path of this site; else ``default``."""
    path = request.POST.get("next", "")
    if path.startswith("/") and url_has_allowed_host_and_scheme(path, allowed_hosts=None) and "?" not in path:
        return path
    return default


@login_required
def imports(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    jobs = list(selectors.imports_for(user=user))
    # Each form is bound only to a post of its own fields; the one used last keeps what it was given, so an
    # import that failed is one click from trying again.
    lb_form = ListenBrainzImportForm(
        request.POST if "username" in request.POST else None, initial=_kept(jobs, ImportJob.Source.LISTENBRAINZ)
    )
    lastfm_form = LastfmImportForm(
        request.POST if "lastfm-username" in request.POST else None, initial=_kept(jobs, ImportJob.Source.LASTFM)
    )
    deezer_form = DeezerImportForm(
        request.POST if "deezer-profile" in request.POST else None, initial=_kept(jobs, ImportJob.Source.DEEZER)
    )
    names_form = NamesImportForm(request.POST if "names" in request.POST else None)
    if request.method == "POST":
        for form, source, field in (
            (lb_form, ImportJob.Source.LISTENBRAINZ, "username"),
            (lastfm_form, ImportJob.Source.LASTFM, "username"),
            (deezer_form, ImportJob.Source.DEEZER, "profile"),
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
                        period=form.cleaned_data.get("period") or "",
                    )
                except services.FollowError as error:
                    form.add_error(field, str(error))
                else:
                    # Gone from the page once the import ends (static/js/task-status.js): it would contradict a failure.
                    messages.success(
                        request, "Import started. Matching names takes about a second each.", extra_tags="until-done"
                    )
                    return redirect("catalog:imports")
    summaries = import_selectors.import_summaries(jobs=jobs)
    response = render(
        request,
        "catalog/imports.html",
        {
            "lb_form": lb_form,
            "lastfm_form": lastfm_form,
            "lastfm_configured": bool(settings.LASTFM_API_KEY),
            "deezer_form": deezer_form,
            "names_form": names_form,
            "imports": summaries,
            "running": any(not summary.status.done for summary in summaries),
        },
    )
    return no_store(response)  # it shows a running import: a page from a cache would be stale


def _kept(jobs: list[ImportJob], source: str) -> dict[str, object]:
    """What the user's latest import from ``source`` was given, as its form's initial values."""
    last = next((job for job in jobs if job.source == source), None)
    if last is None:
        return {}
    if source == ImportJob.Source.DEEZER:
        return {"profile": last.query}
    return {"username": last.query, "min_listens": last.min_listens, "period": last.period or "overall"}


@require_GET
def import_status(request: HttpRequest, job_id: int) -> HttpResponse:
    """JSON for the polling script. Logged out, or not the owner: 404 (no redirect to a login page)."""
    job = ImportJob.objects.filter(pk=job_id, user=request.user).first() if request.user.is_authenticated else None
    if job is None:
        return no_store(JsonResponse({"error": "No such import"}, status=404))
    return no_store(JsonResponse(import_selectors.import_status(job=job).as_json()))


@login_required
@require_POST
def import_resolve(request: HttpRequest, job_id: int) -> HttpResponse:
    """The one form of an import's ambiguous names: follow each pick, leave out "none of these"."""
    try:
        resolved = services.import_resolve(
            user=_user(request),
            job_id=job_id,
            choices=import_choices(request.POST),
            queue_sync=tasks.queue_artist_sync,
        )
    except ImportJob.DoesNotExist:
        raise Http404("No such import") from None
    except services.FollowError as error:
        messages.error(request, str(error))
        return redirect("catalog:imports")
    if resolved.followed:
        messages.success(request, f"You follow {', '.join(resolved.followed)}. Their releases will show up shortly.")
    if resolved.left_out:
        messages.info(request, f"Left out: {', '.join(resolved.left_out)}.")
    if not resolved.followed and not resolved.left_out:
        messages.info(request, "Those names were already settled.")
    return redirect("catalog:imports")


@login_required
@require_POST
def import_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    """Its owner cancels an import not over yet: it stops before its next name, and what it matched stays."""
    user = _user(request)
    services.import_cancel(user=user, job_id=job_id)
    job = ImportJob.objects.filter(pk=job_id, user=user).first()
    if job is None:
        raise Http404("No such import")
    if "application/json" in request.headers.get("Accept", ""):
        return no_store(JsonResponse(import_selectors.import_status(job=job).as_json()))
    return redirect("catalog:imports")


@login_required
@require_POST
def import_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    """A new import of the names a failed or cancelled one never got to."""
    try:
        services.import_retry(user=_user(request), job_id=job_id, queue_import=tasks.queue_import)
    except ImportJob.DoesNotExist:
        raise Http404("No such import") from None
    except services.FollowError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Import started again with the names left.", extra_tags="until-done")
    return redirect("catalog:imports")


@login_required
def import_choose(request: HttpRequest, job_id: int) -> HttpResponse:
    """Where the one-name-at-a-time choice used to post (a page open from before): choose again."""
    messages.info(request, "Choosing is now one form for all the names of an import: please choose again below.")
    return redirect("catalog:imports")


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    current = services.preferences_for(user=user)
    data = request.POST if request.method == "POST" else None  # a POST with nothing ticked is still a POST
    when = [w for w, on in (("released", current.on_release_day), ("announced", current.when_announced)) if on]
    form = PreferencesForm(data, initial={"kinds": current.wanted_kinds(), "when": when, "when_shown": True})
    if request.method == "POST" and form.is_valid():
        kinds = set(form.cleaned_data["kinds"])
        chosen = set(form.cleaned_data["when"]) if form.cleaned_data["when_shown"] else None
        services.preferences_update(user=user, kinds=kinds, when=chosen)
        email = f"{cadence_name(user.digest)} email"
        if kinds:
            messages.success(request, f"Saved. Your feed and your {email} follow these choices.")
        else:
            messages.warning(request, f"Saved: you get no {email} and your feed stays empty until you tick something.")
        return redirect("catalog:preferences")
    return render(request, "catalog/preferences.html", {"form": form})
