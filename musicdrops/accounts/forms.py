from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm

from musicdrops.accounts.models import User, normalize_email
from musicdrops.accounts.zones import WEEKLY, is_time_zone, time_zone_names


class EmailField(forms.EmailField):
    def clean(self, value: Any) -> str:
        return normalize_email(super().clean(value) or "")


class SignUpForm(forms.Form):
    email = EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    # Filled in by the browser (static/js/time-zone.js); changeable in settings.
    time_zone = forms.CharField(
        required=False, max_length=64, widget=forms.HiddenInput(attrs={"data-guess-time-zone": ""})
    )

    def clean_time_zone(self) -> str:
        # A guess the person never saw: one we don't know is no reason to refuse them. UTC until they choose.
        guess: str = self.cleaned_data.get("time_zone") or ""
        return guess if is_time_zone(guess) else "UTC"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("email") and data.get("password"):
            try:
                password_validation.validate_password(data["password"], User(email=data["email"]))
            except forms.ValidationError as error:
                self.add_error("password", error)
        return data


class LoginForm(AuthenticationForm):
    username = EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )


class PasswordResetRequestForm(forms.Form):
    email = EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class SettingsForm(forms.Form):
    email = EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    receives_drops = forms.BooleanField(
        required=False, label="Send me the daily email", help_text="One email a day, only when there is new music."
    )

    current_password = forms.CharField(
        required=False,
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed to change your address.",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        email = cleaned.get("email")
        # A stolen session must not become a stolen account: moving it takes the password.
        moving = isinstance(email, str) and bool(email) and normalize_email(email) != self.user.email
        if moving and not self.user.check_password(cleaned.get("current_password") or ""):
            self.add_error("current_password", "Enter your current password to change your address.")
        return cleaned


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(time_zone_names())]


class DeliveryForm(forms.ModelForm):  # type: ignore[type-arg]
    """When the email goes out: the hour, in the reader's own time zone; every day, or once a week."""

    time_zone = forms.ChoiceField(choices=_time_zone_choices, label="Time zone")

    class Meta:
        model = User
        fields = ("time_zone", "delivery_hour", "digest", "digest_weekday")
        labels = {"delivery_hour": "Delivery time", "digest": "How often", "digest_weekday": "On (weekly)"}
        widgets = {"digest": forms.RadioSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only a weekly digest needs its day: checked in clean(), so a daily one can leave it empty.
        self.fields["digest_weekday"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("digest") == WEEKLY and data.get("digest_weekday") in (None, ""):
            self.add_error("digest_weekday", "Pick the day of the week your weekly email comes on.")
        elif data.get("digest_weekday") in (None, ""):
            data["digest_weekday"] = self.instance.digest_weekday
        return data


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        strip=False, label="Your password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password
