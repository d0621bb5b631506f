"""Forms of the scribe pages (the JSON API validates the same fields in views.py)."""
from __future__ import annotations

from django import forms

from scribe.models import ScribeDocument
from scribe.services import TITLE_MAX


class StartForm(forms.Form):
    room = forms.SlugField(max_length=64, widget=forms.HiddenInput)
    title = forms.CharField(max_length=TITLE_MAX, widget=forms.TextInput(attrs={"placeholder": "The night of the speedrun"}))
    style = forms.ChoiceField(choices=ScribeDocument.Style.choices, initial=ScribeDocument.Style.LITERARY)


class ToggleForm(forms.Form):
    enabled = forms.TypedChoiceField(choices=[("1", "start"), ("0", "stop")], coerce=lambda value: value == "1")
    catch_up = forms.TypedChoiceField(
        choices=[("1", "Fold in what it missed"), ("0", "Start from now")],
        coerce=lambda value: value == "1",
        required=False,
        empty_value=True,
    )


class EditForm(forms.Form):
    content = forms.CharField(strip=False, widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "true"}))
    base_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class RestoreForm(forms.Form):
    base_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
