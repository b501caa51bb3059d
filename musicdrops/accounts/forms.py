from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm

from musicdrops.accounts.models import User, normalize_email
from musicdrops.accounts.zones import WEEKLY, cadence_name, is_time_zone, time_zone_choices

WRONG_PASSWORD = "That is not your current password."  # noqa: S105 (a message, not a password)


class FocusOnErrorMixin:
    """After a mistake the page opens on the field to fix, not on the form's first field."""

    fields: dict[str, forms.Field]
    _errors: Any

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        wrong = [name for name in self.fields if self._errors and name in self._errors]
        if wrong:
            self.focus(wrong[0])

    def focus(self, name: str) -> None:
        for field in self.fields.values():
            field.widget.attrs.pop("autofocus", None)
        self.fields[name].widget.attrs["autofocus"] = True


class EmailField(forms.EmailField):
    def clean(self, value: Any) -> str:
        return normalize_email(super().clean(value) or "")


class SignUpForm(FocusOnErrorMixin, forms.Form):
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


class LoginForm(FocusOnErrorMixin, AuthenticationForm):
    username = EmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )

    def full_clean(self) -> None:
        super().full_clean()
        if self.non_field_errors():
            self.focus("password")  # the address is kept and the password emptied: that is the one to type again


class ChangePasswordForm(FocusOnErrorMixin, PasswordChangeForm):
    error_messages = {**PasswordChangeForm.error_messages, "password_incorrect": WRONG_PASSWORD}


class PasswordResetRequestForm(forms.Form):
    email = EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))


class SettingsForm(FocusOnErrorMixin, forms.Form):
    email = EmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    receives_drops = forms.BooleanField(required=False)

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
        often = "a week, on the day you pick" if user.digest == WEEKLY else "a day"
        self.fields["receives_drops"].label = f"Send me the {cadence_name(user.digest)} email"
        self.fields["receives_drops"].help_text = f"One email {often}, only when there is new music."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        email = cleaned.get("email")
        # A stolen session must not become a stolen account: moving it takes the password.
        moving = isinstance(email, str) and bool(email) and normalize_email(email) != self.user.email
        password = cleaned.get("current_password") or ""
        if moving and not password:
            self.add_error("current_password", "Enter your current password to change your address.")
        elif moving and not self.user.check_password(password):
            self.add_error("current_password", WRONG_PASSWORD)
        return cleaned


class TimeZoneField(forms.ChoiceField):
    """Offers the canonical zones; accepts any IANA name, as people saved old aliases before the list was trimmed."""

    def valid_value(self, value: str) -> bool:
        return is_time_zone(value)


class DeliveryForm(FocusOnErrorMixin, forms.ModelForm):  # type: ignore[type-arg]
    """When the email goes out: the hour, in the reader's own time zone; every day, or once a week."""

    time_zone = TimeZoneField(
        label="Time zone", error_messages={"invalid_choice": "Pick your time zone from the list."}
    )

    class Meta:
        model = User
        fields = ("time_zone", "delivery_hour", "digest", "digest_weekday")
        labels = {"delivery_hour": "Delivery time", "digest": "How often", "digest_weekday": "Day of the weekly email"}
        widgets = {"digest": forms.RadioSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = time_zone_choices(current=self.instance.time_zone)  # type: ignore[attr-defined]
        # Only a weekly digest needs its day: checked in clean(), so a daily one can leave it empty.
        self.fields["digest_weekday"].required = False

    def full_clean(self) -> None:
        super().full_clean()
        if self.is_bound and "time_zone" in self.errors:
            # Shown again with the saved zone selected: a name not in the list would select the first, Africa/Abidjan,
            # and a second Save would store it.
            self.data = {**self.data, "time_zone": self.initial["time_zone"]}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("digest") == WEEKLY and data.get("digest_weekday") in (None, ""):
            self.add_error("digest_weekday", "Pick the day of the week your weekly email comes on.")
        elif data.get("digest_weekday") in (None, ""):
            data["digest_weekday"] = self.instance.digest_weekday
        return data


class DeleteAccountForm(FocusOnErrorMixin, forms.Form):
    password = forms.CharField(
        strip=False, label="Your password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(WRONG_PASSWORD)
        return password
