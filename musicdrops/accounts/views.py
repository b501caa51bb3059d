from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from musicdrops.accounts import services, throttle
from musicdrops.accounts.decorators import login_required
from musicdrops.accounts.forms import (
    DeleteAccountForm,
    DeliveryForm,
    PasswordResetRequestForm,
    SettingsForm,
    SignUpForm,
)
from musicdrops.accounts.models import Suppression, User
from musicdrops.accounts.suppression import is_suppressed


def _current_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # guaranteed by @login_required
    return user


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return None


def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("front:dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # The same answer whether or not the address has an account (its owner gets an email instead).
        services.user_sign_up(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            time_zone=form.cleaned_data["time_zone"],
        )
        return redirect("accounts:sign_up_done")
    return render(request, "accounts/sign_up.html", {"form": form})


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    user = services.user_verify_email(token=token)
    if user is None:
        return render(request, "accounts/verify_failed.html", status=400)
    messages.success(request, f"Thanks — {user.email} is confirmed.")
    return redirect("front:dashboard" if request.user.is_authenticated else "accounts:login")


@login_required
@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    user = _current_user(request)
    throttle.limit_request(
        request=request, action="verify", account=user.email, per_account=settings.ACCOUNT_EMAILS_PER_HOUR
    )
    if user.email_verified and not is_suppressed(user.email):
        messages.info(request, "Your email address is already confirmed.")
    elif services.user_request_verification(user=user):
        messages.success(request, f"We sent a new confirmation link to {user.email}.")
    else:
        messages.error(request, "We sent several links in the last hour. Please check your inbox and spam folder.")
    return redirect(_safe_next(request) or "front:dashboard")


def password_reset(request: HttpRequest) -> HttpResponse:
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        throttle.limit_request(
            request=request,
            action="reset",
            account=form.cleaned_data["email"],
            per_account=settings.ACCOUNT_EMAILS_PER_HOUR,
        )
        services.password_reset_request(email=form.cleaned_data["email"])
        return redirect("accounts:password_reset_done")
    return render(request, "accounts/password_reset.html", {"form": form})


@login_required
def account_settings(request: HttpRequest) -> HttpResponse:
    user = _current_user(request)
    form = SettingsForm(
        request.POST or None, user=user, initial={"email": user.email, "receives_drops": user.receives_drops}
    )
    if request.method == "POST" and form.is_valid():
        new_email = services.user_update_settings(
            user=user, email=form.cleaned_data["email"], receives_drops=form.cleaned_data["receives_drops"]
        )
        if new_email:
            # The same whether or not another account has the address: its owner is told instead.
            messages.success(request, f"Saved. To move your account to {new_email}, follow the link we sent there.")
        else:
            messages.success(request, "Your settings are saved.")
        return redirect("accounts:settings")
    return _settings_page(request, user, form=form)


def _settings_page(
    request: HttpRequest,
    user: User,
    *,
    form: SettingsForm | None = None,
    delivery_form: DeliveryForm | None = None,
    delete_form: DeleteAccountForm | None = None,
    status: int = 200,
) -> HttpResponse:
    initial = {"email": user.email, "receives_drops": user.receives_drops}
    # The delivery form gets a copy: validating writes its values onto the instance, and the page shows request.user.
    context = {
        "form": form or SettingsForm(user=user, initial=initial),
        "delivery_form": delivery_form or DeliveryForm(instance=User.objects.get(pk=user.pk)),
        "delete_form": delete_form or DeleteAccountForm(user=user),
        "suppression": Suppression.objects.filter(email=user.email).first(),
    }
    return render(request, "accounts/settings.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def delivery_settings(request: HttpRequest) -> HttpResponse:
    """The delivery time and cadence: a form error for anything out of range, never a 500."""
    if request.method == "GET":
        return redirect("accounts:settings")  # the address a form with errors leaves in the address bar
    user = _current_user(request)
    form = DeliveryForm(request.POST, instance=User.objects.get(pk=user.pk))
    if not form.is_valid():
        return _settings_page(request, user, delivery_form=form, status=400)
    form.save()
    messages.success(request, "Your delivery time is saved.")
    return redirect("accounts:settings")


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return redirect("accounts:settings")  # the address a wrong password leaves in the address bar
    user = _current_user(request)
    form = DeleteAccountForm(request.POST, user=user)
    if not form.is_valid():
        return _settings_page(request, user, delete_form=form, status=400)
    logout(request)
    services.user_delete(user=user)
    messages.success(request, "Your account and everything in it is deleted.")
    return redirect("front:home")
