from typing import Any

from django import forms

from musicdrops.drops.models import PushChannel
from musicdrops.safe_http import Refused, check_url


class PushChannelForm(forms.ModelForm):  # type: ignore[type-arg]
    """Where a drop is pushed, and whether email goes on too. The URL's shape is checked here; its address at each
    send (musicdrops/safe_http.py), since what a name resolves to can change."""

    class Meta:
        model = PushChannel
        fields = ("mode", "kind", "url")
        labels = {"mode": "Send my drops by", "kind": "Push to", "url": "Topic or webhook URL"}
        widgets = {"mode": forms.RadioSelect}

    def clean_url(self) -> str:
        url: str = self.cleaned_data.get("url", "")
        if url:
            try:
                check_url(url)
            except Refused as error:
                raise forms.ValidationError(f"That address cannot be used: {error}.") from None
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("mode") != PushChannel.Mode.EMAIL and not data.get("url") and "url" not in self.errors:
            self.add_error("url", "Give the ntfy topic or webhook URL to push to.")
        return data
