"""Forms of the chat app's own pages."""
from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from chat.names import name_conflict, name_reserved_reason, registered_names


class SignupForm(UserCreationForm):
    """Django's sign-up form, refusing names that impersonate: reserved words, persona handles and
    names that read the same as a taken one (look-alike Unicode, case)."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)

    def clean_username(self) -> str:
        username = super().clean_username()
        if not username:
            return username  # already refused (a name taken in another case)
        reason = name_reserved_reason(username)
        if reason:
            raise forms.ValidationError(f"“{username}” {reason}; pick another name.", code="reserved")
        if name_conflict(username, taken=registered_names()):
            raise forms.ValidationError(
                f"“{username}” is the name of one of the cast (or looks like it); pick another name.", code="persona"
            )
        # Every account is compared: the skeleton is not stored, so this is one read of usernames
        # per sign-up (fine up to a few hundred thousand accounts; store skeletons beyond that). A
        # list, not .iterator(): a server-side cursor abandoned at the first match breaks the transaction.
        taken = list(get_user_model().objects.values_list("username", flat=True))
        other = name_conflict(username, taken=taken)
        if other is not None:
            raise forms.ValidationError(
                f"“{username}” looks too much like “{other}”, who already chats here; pick another name.",
                code="confusable",
            )
        return username
