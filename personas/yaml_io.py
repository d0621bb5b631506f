"""The cast as versionable YAML: personas, room settings, room cast knobs and rosters.

Export writes every field in a fixed order, rows sorted by handle / slug, so two exports of the
same data are byte-identical and a diff shows exactly what a moderator changed.

Import checks the whole file before it touches anything (structure, types, the models' own
validators, the list-field rules admin uses, references between rows), then applies every change
in one transaction. Rows are matched by natural key (persona handle, room slug, roster
room + persona) and only written when a value differs, so importing the same file twice changes
nothing the second time. A key left out of a row keeps the current value (or the default for a
new row); roster entries missing from the file stay unless `prune` is asked for.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from pydantic import BaseModel, ConfigDict, ValidationError

from chat.models import Room
from chatter_site.lib.errors import ChatterError, ErrorCode
from personas.forms import LIST_RULES, list_field_problems
from personas.models import Persona, RoomCast, RosterEntry

FORMAT_VERSION = 1
PERSONA_FIELDS = (
    "handle", "enabled", "color", "badges", "bio", "style", "catchphrases", "emotes", "loved_topics", "hated_topics",
    "chattiness", "hype_sensitivity", "mention_reaction", "bot_affinity", "max_posts_per_minute", "temperature",
    "drift_review",
)
ROOM_FIELDS = ("slug", "title", "description", "is_live", "slow_mode_seconds")
CAST_FIELDS = ("hype_multiplier", "bot_human_bias", "max_inflight", "max_bot_messages_per_minute")
ROSTER_FIELDS = ("enabled", "chattiness", "max_posts_per_minute", "hype_sensitivity", "bot_affinity", "extra_style")


# --- export ---


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line text (bios, style notes) as literal blocks and no folding of long lines (the dump's
    # width): an edited word then shows as one changed line in a diff, not a reflowed paragraph.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def cast_export_data() -> dict[str, Any]:
    # Sorted here, not by the database: its collation must not change the file.
    personas = [
        {name: getattr(persona, name) for name in PERSONA_FIELDS}
        for persona in sorted(Persona.objects.all(), key=lambda persona: persona.handle)
    ]
    roster: dict[int, list[dict[str, Any]]] = {}
    for entry in sorted(RosterEntry.objects.select_related("persona"), key=lambda entry: entry.persona.handle):
        roster.setdefault(entry.room_id, []).append(
            {"persona": entry.persona.handle, **{name: getattr(entry, name) for name in ROSTER_FIELDS}}
        )
    casts = {cast.room_id: cast for cast in RoomCast.objects.all()}
    rooms = []
    for room in sorted(Room.objects.all(), key=lambda room: room.slug):
        item: dict[str, Any] = {name: getattr(room, name) for name in ROOM_FIELDS}
        cast = casts.get(room.pk)
        # No row yet means "defaults": leave it out, so exporting does not invent settings.
        item["cast"] = {name: getattr(cast, name) for name in CAST_FIELDS} if cast else None
        item["roster"] = roster.get(room.pk, [])
        rooms.append(item)
    return {"version": FORMAT_VERSION, "personas": personas, "rooms": rooms}


def cast_export_yaml() -> str:
    header = "# chatter cast: personas, rooms, room cast settings and rosters. Import with `manage.py import_cast`.\n"
    body = yaml.dump(cast_export_data(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)
    return header + body


# --- the file's shape ---


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class PersonaRow(_Row):
    handle: str
    enabled: bool | None = None
    color: str | None = None
    badges: list[Any] | None = None
    bio: str | None = None
    style: str | None = None
    catchphrases: list[Any] | None = None
    emotes: list[Any] | None = None
    loved_topics: list[Any] | None = None
    hated_topics: list[Any] | None = None
    chattiness: float | None = None
    hype_sensitivity: float | None = None
    mention_reaction: float | None = None
    bot_affinity: float | None = None
    max_posts_per_minute: int | None = None
    temperature: float | None = None
    drift_review: str | None = None


class CastRow(_Row):
    hype_multiplier: float | None = None
    bot_human_bias: float | None = None
    max_inflight: int | None = None
    max_bot_messages_per_minute: int | None = None


class RosterRow(_Row):
    persona: str
    enabled: bool | None = None
    chattiness: float | None = None
    max_posts_per_minute: int | None = None
    hype_sensitivity: float | None = None
    bot_affinity: float | None = None
    extra_style: str | None = None


class RoomRow(_Row):
    slug: str
    title: str | None = None
    description: str | None = None
    is_live: bool | None = None
    slow_mode_seconds: int | None = None
    cast: CastRow | None = None
    roster: list[RosterRow] | None = None


class CastFile(_Row):
    version: Literal[1]
    personas: list[PersonaRow] = []
    rooms: list[RoomRow] = []


# Overrides may be null on purpose ("use the persona's knob"); other keys may not.
NULLABLE = {("roster", name) for name in ("chattiness", "max_posts_per_minute", "hype_sensitivity", "bot_affinity")}


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "file"


def _given(row: BaseModel, names: tuple[str, ...]) -> dict[str, Any]:
    """The keys the file actually wrote, in field order."""
    return {name: getattr(row, name) for name in names if name in row.model_fields_set}


# --- planning ---


@dataclass
class Change:
    kind: str  # persona | room | cast | roster
    key: str
    action: str  # create | update | unchanged | delete
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (old, new)

    def describe(self) -> str:
        if self.action in ("unchanged", "delete"):
            return f"{self.action} {self.kind} {self.key}"
        if self.action == "create":
            shown = ", ".join(f"{name}: {new!r}" for name, (_, new) in self.fields.items() if name not in ("handle", "slug"))
        else:
            shown = ", ".join(f"{name}: {old!r} → {new!r}" for name, (old, new) in self.fields.items())
        return f"{self.action} {self.kind} {self.key}" + (f" ({shown})" if shown else "")


@dataclass
class ImportPlan:
    changes: list[Change]
    applied: bool = False

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    def summary(self) -> str:
        text = (
            f"{self.count('create')} created, {self.count('update')} updated, {self.count('unchanged')} unchanged"
        )
        if self.count("delete"):
            text += f", {self.count('delete')} deleted"
        return text

    @property
    def writes(self) -> list[Change]:
        return [change for change in self.changes if change.action != "unchanged"]


def _diff(instance: models.Model | None, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        name: (getattr(instance, name, None) if instance else None, value)
        for name, value in values.items()
        if instance is None or getattr(instance, name) != value
    }


def _model_errors(instance: models.Model, *, path: str, exclude: list[str]) -> list[str]:
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except DjangoValidationError as error:
        return [f"{path}.{name}: {' '.join(messages)}" for name, messages in error.message_dict.items()]
    return []


def cast_import_plan(*, data: Any, prune: bool = False) -> tuple[ImportPlan, list[str]]:
    """Check a parsed file and work out every change. Returns (plan, errors); nothing is written."""
    if not isinstance(data, dict):
        return ImportPlan([]), ["file: expected a mapping with version, personas and rooms"]
    try:
        parsed = CastFile.model_validate(data)
    except ValidationError as error:
        return ImportPlan([]), [f"{_where(item['loc'])}: {item['msg']}" for item in error.errors()]

    errors: list[str] = []
    changes: list[Change] = []
    personas = {persona.handle: persona for persona in Persona.objects.all()}
    rooms = {room.slug: room for room in Room.objects.all()}
    casts = {cast.room_id: cast for cast in RoomCast.objects.all()}
    entries = {
        (entry.room_id, entry.persona.handle): entry for entry in RosterEntry.objects.select_related("persona")
    }

    seen_handles: set[str] = set()
    for index, row in enumerate(parsed.personas):
        path = f"personas[{index}]"
        values = _given(row, PERSONA_FIELDS)
        for name, value in values.items():
            if value is None:
                errors.append(f"{path}.{name}: may not be null")
        if row.handle in seen_handles:
            errors.append(f"{path}.handle: {row.handle!r} appears twice in the file")
        seen_handles.add(row.handle)
        for name in LIST_RULES:
            if values.get(name) is not None:
                errors.extend(f"{path}.{name}: {problem}" for problem in list_field_problems(name, values[name]))
        existing = personas.get(row.handle)
        candidate = Persona(**{name: getattr(existing, name) for name in PERSONA_FIELDS}) if existing else Persona()
        for name, value in values.items():
            if value is not None:
                setattr(candidate, name, value)
        errors.extend(_model_errors(candidate, path=path, exclude=[*LIST_RULES]))
        diff = _diff(existing, values)
        changes.append(Change("persona", row.handle, "create" if existing is None else ("update" if diff else "unchanged"), diff))

    known_handles = seen_handles | set(personas)
    seen_slugs: set[str] = set()
    for index, room_row in enumerate(parsed.rooms):
        path = f"rooms[{index}]"
        values = _given(room_row, ROOM_FIELDS)
        for name, value in values.items():
            if value is None:
                errors.append(f"{path}.{name}: may not be null")
        if room_row.slug in seen_slugs:
            errors.append(f"{path}.slug: {room_row.slug!r} appears twice in the file")
        seen_slugs.add(room_row.slug)
        room = rooms.get(room_row.slug)
        if room is None:
            values.setdefault("title", room_row.slug)
        candidate = Room(**{name: getattr(room, name) for name in ROOM_FIELDS}) if room else Room()
        for name, value in values.items():
            if value is not None:
                setattr(candidate, name, value)
        errors.extend(_model_errors(candidate, path=path, exclude=["last_seq"]))
        diff = _diff(room, values)
        changes.append(Change("room", room_row.slug, "create" if room is None else ("update" if diff else "unchanged"), diff))

        if room_row.cast is not None:
            cast_values = _given(room_row.cast, CAST_FIELDS)
            for name, value in cast_values.items():
                if value is None:
                    errors.append(f"{path}.cast.{name}: may not be null")
            cast = casts.get(room.pk) if room else None
            candidate_cast = RoomCast(**{name: getattr(cast, name) for name in CAST_FIELDS}) if cast else RoomCast()
            for name, value in cast_values.items():
                if value is not None:
                    setattr(candidate_cast, name, value)
            errors.extend(_model_errors(candidate_cast, path=f"{path}.cast", exclude=["room"]))
            cast_diff = _diff(cast, cast_values)
            action = "create" if cast is None else ("update" if cast_diff else "unchanged")
            changes.append(Change("cast", room_row.slug, action, cast_diff))

        listed: set[str] = set()
        for entry_index, entry_row in enumerate(room_row.roster or []):
            entry_path = f"{path}.roster[{entry_index}]"
            entry_values = _given(entry_row, ROSTER_FIELDS)
            for name, value in entry_values.items():
                if value is None and ("roster", name) not in NULLABLE:
                    errors.append(f"{entry_path}.{name}: may not be null")
            if entry_row.persona not in known_handles:
                errors.append(f"{entry_path}.persona: unknown persona {entry_row.persona!r} (not in the file or the database)")
            if entry_row.persona in listed:
                errors.append(f"{entry_path}.persona: {entry_row.persona!r} is on this roster twice")
            listed.add(entry_row.persona)
            entry = entries.get((room.pk, entry_row.persona)) if room else None
            candidate_entry = RosterEntry(**{name: getattr(entry, name) for name in ROSTER_FIELDS}) if entry else RosterEntry()
            for name, value in entry_values.items():
                if value is not None or ("roster", name) in NULLABLE:
                    setattr(candidate_entry, name, value)
            errors.extend(_model_errors(candidate_entry, path=entry_path, exclude=["room", "persona"]))
            entry_diff = _diff(entry, entry_values)
            action = "create" if entry is None else ("update" if entry_diff else "unchanged")
            changes.append(Change("roster", f"{room_row.slug}/{entry_row.persona}", action, entry_diff))
        if prune and room is not None and room_row.roster is not None:
            for (room_id, handle), _entry in sorted(entries.items(), key=lambda item: item[0][1]):
                if room_id == room.pk and handle not in listed:
                    changes.append(Change("roster", f"{room_row.slug}/{handle}", "delete"))
    return ImportPlan(changes), errors


def _apply(plan: ImportPlan) -> None:
    # No select_for_update on rooms: the gateway locks a room row for every message it stores.
    personas = {persona.handle: persona for persona in Persona.objects.all()}
    rooms = {room.slug: room for room in Room.objects.all()}
    for change in plan.writes:
        values = {name: new for name, (_, new) in change.fields.items()}
        if change.kind == "persona":
            if change.action == "create":
                personas[change.key] = Persona.objects.create(handle=change.key, **{k: v for k, v in values.items() if k != "handle"})
            else:
                persona = personas[change.key]
                for name, value in values.items():
                    setattr(persona, name, value)
                persona.save(update_fields=[*values, "updated_at"])
        elif change.kind == "room":
            if change.action == "create":
                rooms[change.key] = Room.objects.create(slug=change.key, **{k: v for k, v in values.items() if k != "slug"})
            else:
                Room.objects.filter(pk=rooms[change.key].pk).update(**values)
        elif change.kind == "cast":
            room = rooms[change.key]
            if change.action == "create":
                RoomCast.objects.create(room=room, **values)
            else:
                RoomCast.objects.filter(room=room).update(**values)
        elif change.kind == "roster":
            slug, handle = change.key.split("/", 1)
            room, persona = rooms[slug], personas[handle]
            if change.action == "create":
                RosterEntry.objects.create(room=room, persona=persona, **values)
            elif change.action == "update":
                RosterEntry.objects.filter(room=room, persona=persona).update(**values)
            else:
                RosterEntry.objects.filter(room=room, persona=persona).delete()


def cast_import(*, text: str, dry_run: bool = False, prune: bool = False) -> ImportPlan:
    """Check the YAML, then apply it in one transaction (or only plan it, for a dry run).

    Raises ChatterError(ErrorCode.INVALID, ...) listing every problem with its path; nothing is written then.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ChatterError(ErrorCode.INVALID, f"file: not valid YAML ({error})") from None
    with transaction.atomic():
        # Planned inside the transaction that applies it: an error anywhere, even mid-apply, writes nothing.
        plan, errors = cast_import_plan(data=data, prune=prune)
        if errors:
            raise ChatterError(ErrorCode.INVALID, "\n".join(errors))
        if not dry_run and plan.writes:
            _apply(plan)
            plan.applied = True
    return plan
