"""The persona form moderators edit in admin, and the rules for its list fields.

The list anchors (badges, catchphrases, emotes, topics) are JSON lists in the database. Admin shows
each as a textarea with one item per line; the YAML importer applies the same rules, so a persona
that passes one passes the other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms

from chat.trends import EMOTE_SET, EMOTES
from personas.models import Persona


@dataclass(frozen=True)
class ListRule:
    max_items: int
    max_chars: int
    allowed: frozenset[str] | None = None  # None: any text


# Badges must fit the chat schema (8 × 32 chars) or every line of the persona is refused at the gate.
LIST_RULES: dict[str, ListRule] = {
    "badges": ListRule(max_items=8, max_chars=32),
    "catchphrases": ListRule(max_items=20, max_chars=120),
    "emotes": ListRule(max_items=20, max_chars=32, allowed=EMOTE_SET),
    "loved_topics": ListRule(max_items=30, max_chars=60),
    "hated_topics": ListRule(max_items=30, max_chars=60),
}


def list_field_problems(name: str, items: Any) -> list[str]:
    """What is wrong with the value of one list anchor, as sentences (empty when it is fine)."""
    rule = LIST_RULES[name]
    if not isinstance(items, list):
        return ["must be a list of strings"]
    problems: list[str] = []
    if len(items) > rule.max_items:
        problems.append(f"at most {rule.max_items} items (got {len(items)})")
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str) or not item.strip():
            problems.append(f"every item must be non-empty text (got {item!r})")
            continue
        if "\n" in item or item != item.strip():
            problems.append(f"{item!r}: one line, without surrounding spaces")
        if len(item) > rule.max_chars:
            problems.append(f"{item[:20]!r}…: at most {rule.max_chars} characters")
        if rule.allowed is not None and item not in rule.allowed:
            problems.append(f"unknown emote {item!r} (chat knows: {', '.join(EMOTES)})")
        if item.lower() in seen:
            problems.append(f"{item!r} is listed twice")
        seen.add(item.lower())
    return problems


class LinesField(forms.Field):
    """A list of short strings edited as a textarea, one item per line; blank lines are ignored."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def __init__(self, *, list_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.list_name = list_name

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if value in (None, ""):
            return []
        if isinstance(value, list):
            return value
        return [line.strip() for line in str(value).splitlines() if line.strip()]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        problems = list_field_problems(self.list_name, value)
        if problems:
            raise forms.ValidationError(problems)


def _lines_field(name: str, help_text: str) -> LinesField:
    return LinesField(list_name=name, help_text=help_text)


class PersonaForm(forms.ModelForm):
    badges = _lines_field("badges", 'One per line, e.g. "bot" or "vip". At most 8.')
    catchphrases = _lines_field("catchphrases", "One per line. The model uses them now and then, not every line.")
    emotes = _lines_field("emotes", "One per line, most used first. Known emotes: " + ", ".join(EMOTES) + ".")
    loved_topics = _lines_field("loved_topics", "One per line: what makes it speak up.")
    hated_topics = _lines_field("hated_topics", "One per line: what it grumbles about or avoids.")

    class Meta:
        model = Persona
        fields = "__all__"
        widgets = {
            "color": forms.TextInput(attrs={"type": "color"}),
            "bio": forms.Textarea(attrs={"rows": 3, "cols": 80}),
            "style": forms.Textarea(attrs={"rows": 3, "cols": 80}),
        }
