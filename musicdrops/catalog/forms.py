from typing import Any

from django import forms
from django.conf import settings
from django.http import QueryDict

from musicdrops.catalog import deezer, lastfm
from musicdrops.catalog.models import RELEASE_KINDS

KIND_LABELS = {
    "album": "Albums",
    "ep": "EPs",
    "single": "Singles",
    "live": "Live recordings",
    "compilation": "Compilations",
    "remix": "Remixes",
    "other": "Everything else (soundtracks, broadcasts, …)",
}


class SearchForm(forms.Form):
    q = forms.CharField(label="Artist name", max_length=200, strip=True)


class ListenBrainzImportForm(forms.Form):
    username = forms.CharField(label="ListenBrainz user name", max_length=64, strip=True)
    min_listens = forms.IntegerField(
        label="Only artists I listened to at least this many times",
        min_value=0,
        max_value=1_000_000,
        initial=10,
        required=False,
        help_text="0 takes all of your 100 most played artists.",
    )


class LastfmImportForm(forms.Form):
    prefix = "lastfm"  # its fields beside ListenBrainz's on one page: ids and names of their own

    NO_KEY = "This site has no Last.fm API key configured, so it cannot import from Last.fm."

    username = forms.CharField(label="Last.fm user name", max_length=64, strip=True)
    period = forms.ChoiceField(label="Played over", choices=list(lastfm.PERIODS.items()), initial="overall")
    min_listens = forms.IntegerField(
        label="Only artists I played at least this many times",
        min_value=0,
        max_value=1_000_000,
        initial=10,
        required=False,
        help_text="0 takes all of your 500 most played artists.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not settings.LASTFM_API_KEY:
            raise forms.ValidationError(self.NO_KEY, code="no-key")
        return cleaned


class DeezerImportForm(forms.Form):
    prefix = "deezer"

    profile = forms.CharField(
        label="Your Deezer profile's address or number",
        max_length=300,
        strip=True,
        help_text="As in https://www.deezer.com/profile/123456789; the profile must be public.",
    )

    def clean_profile(self) -> str:
        profile_id = deezer.parse_profile(self.cleaned_data["profile"])
        if profile_id is None:
            raise forms.ValidationError(
                "That is not a Deezer profile: paste its address (https://www.deezer.com/profile/123456789)"
                " or its number.",
                code="profile",
            )
        return profile_id


class NamesImportForm(forms.Form):
    names = forms.CharField(
        label="Artist names, one per line", widget=forms.Textarea(attrs={"rows": 8}), max_length=50_000
    )


def import_choices(data: QueryDict) -> dict[str, str]:
    """The answers of an import's choices form: {name: the MBID picked, or "" for none of these}.

    Each name comes as ``name-<n>`` beside its radio group ``pick-<n>``, so the answers pair up
    whatever the names contain. A name with no answer is left out: it stays to be chosen.
    """
    choices = {}
    for key, name in data.items():
        number = key.removeprefix("name-")
        if number != key and isinstance(name, str):
            pick = data.get(f"pick-{number}")
            if isinstance(pick, str):
                choices[name] = pick.strip()
    return choices


class PreferencesForm(forms.Form):
    kinds = forms.MultipleChoiceField(
        label="Tell me about",
        choices=[(kind, KIND_LABELS[kind]) for kind in RELEASE_KINDS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    # Nothing ticked means no email and an empty feed: saved only once the person says so.
    nothing = forms.BooleanField(label="Yes, tell me about nothing for now", required=False)
    when = forms.MultipleChoiceField(
        label="Tell me about a release",
        choices=[
            ("released", "On its release day"),
            ("announced", "When it is announced: an upcoming release we have just found, with a calendar file"),
        ],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    # Set by the page that shows "when": a form posted from a page older than the choice leaves it as it was.
    when_shown = forms.BooleanField(widget=forms.HiddenInput, required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("when_shown") and not cleaned.get("when"):
            never = "Choose at least one: on its release day, when it is announced, or both."
            self.add_error("when", forms.ValidationError(never, code="never"))
        if not cleaned.get("kinds") and not cleaned.get("nothing"):
            raise forms.ValidationError(
                "With nothing ticked you get no daily email and an empty feed. "
                "Tick what you want to hear about, or confirm that you want nothing.",
                code="nothing",
            )
        return cleaned
