from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from musicdrops.accounts import throttle
from musicdrops.accounts.decorators import login_required
from musicdrops.accounts.models import User
from musicdrops.drops import push
from musicdrops.drops.emails import read_unsubscribe_token
from musicdrops.drops.forms import PushChannelForm
from musicdrops.drops.models import PushChannel
from musicdrops.drops.preview import drop_status


@csrf_exempt  # the signed token is the authorization; mail clients' one-click POST carries no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058: a POST unsubscribes at once, no login, no confirmation page.

    A GET shows a page whose form submits itself: link scanners (which run no scripts) unsubscribe nobody.
    """
    user_id = read_unsubscribe_token(token)
    user = User.objects.filter(pk=user_id).first() if user_id is not None else None
    if user is None:
        return render(request, "drops/unsubscribe_invalid.html", status=400)
    if request.method == "GET":
        return render(request, "drops/unsubscribe_confirm.html", {"token": token})
    if request.POST.get("resubscribe"):
        User.objects.filter(pk=user.pk).update(receives_drops=True)
        return render(request, "drops/unsubscribe_done.html", {"resubscribed": True, "token": token})
    User.objects.filter(pk=user.pk).update(receives_drops=False)
    return render(request, "drops/unsubscribe_done.html", {"resubscribed": False, "token": token})


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


@login_required
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    """Today's email in the browser (the one sent, or the next): the page around it, the email in a sandboxed frame."""
    status = drop_status(user=_user(request), now=timezone.now())
    return render(request, "drops/today.html", {"status": status, "preview": status.preview})


# The email, inline styles only, in the page's sandboxed frame: nothing else loads, no script runs.
# Same-origin all the same (no scripts to use it), so the page can size the frame to the email (js/email-frame.js).
_EMAIL_CSP = {
    "default-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["'self'", "https:", "data:", *settings.COVER_ART_SOURCES],
    "frame-ancestors": ["'self'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
    "sandbox": ["allow-same-origin", "allow-popups", "allow-popups-to-escape-sandbox"],
}


@login_required
@require_GET
@xframe_options_sameorigin
@csp_override(_EMAIL_CSP)
def today_email(request: HttpRequest) -> HttpResponse:
    preview = drop_status(user=_user(request), now=timezone.now()).preview
    if preview is None:
        raise Http404("Nothing to send today")
    response = HttpResponse(preview.html, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def push_settings(request: HttpRequest) -> HttpResponse:
    """The push channel: where, and email too or not. A bad URL is a form error, never a 500."""
    user = _user(request)
    form = PushChannelForm(request.POST or None, instance=PushChannel.objects.filter(user=user).first())
    if request.method == "POST":
        if form.is_valid():
            form.instance.user = user
            form.save()
            messages.success(request, "Your push settings are saved.")
            return redirect("drops:push")
        return render(request, "drops/push.html", {"form": form}, status=400)
    return render(request, "drops/push.html", {"form": form})


@login_required
@require_POST
def push_test(request: HttpRequest) -> HttpResponse:
    """Post a test message to the saved channel now, with short time-outs (settings: SAFE_HTTP_*), and say what it
    answered: a few seconds at most, so the page waits for it instead of polling a task."""
    user = _user(request)
    throttle.limit_request(
        request=request, action="push-test", account=user.email, per_account=settings.PUSH_TESTS_PER_HOUR
    )
    channel = PushChannel.objects.filter(user=user).exclude(url="").first()
    if channel is None:
        messages.error(request, "Save a topic or webhook URL first.")
        return redirect("drops:push")
    result = push.push_send(kind=channel.kind, url=channel.url, title="MusicDrops test",
                            text="This is a test: your drops will come here.")  # fmt: skip
    if result.ok:
        messages.success(request, f"Test message sent: the server answered {result.detail}.")
    else:
        messages.error(request, f"The test message was not sent: {result.detail}.")
    return redirect("drops:push")
