from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from musicdrops.accounts.models import User
from musicdrops.drops.emails import read_unsubscribe_token


@csrf_exempt  # the signed token is the authorization; mail clients' one-click POST carries no CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058: a POST unsubscribes at once, no login, no confirmation page.

    A GET (the visible link in the email) shows a page whose form submits
    itself: a person gets one click, while link scanners that fetch every URL
    in an email (and run no scripts) don't unsubscribe anybody.
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
