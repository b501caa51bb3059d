from typing import Any

from django import forms

from musicdrops.accounts.models import User
from musicdrops.catalog import selectors
from musicdrops.catalog.forms import KIND_LABELS


class FeedFilterForm(forms.Form):
    """The release feed's filters, from the query string: a kind, an artist, out now or upcoming."""

    WHEN = [("", "Out now and upcoming"), ("out", "Out now"), ("upcoming", "Upcoming")]

    kind = forms.ChoiceField(required=False, label="Kind")
    artist = forms.TypedChoiceField(required=False, label="Artist", coerce=int, empty_value=None)
    when = forms.ChoiceField(required=False, label="When", choices=WHEN)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only what the feed can show: the kinds the user wants, the artists they follow.
        kinds = selectors.wanted_kinds(user=user)
        kind, artist = self.fields["kind"], self.fields["artist"]
        assert isinstance(kind, forms.ChoiceField)
        assert isinstance(artist, forms.ChoiceField)
        kind.choices = [("", "Every kind"), *[(k, KIND_LABELS[k]) for k in kinds]]
        artist.choices = [("", "Every artist"), *[(a.pk, str(a)) for a in selectors.followed_artists(user=user)]]
