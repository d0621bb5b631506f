"""Staff move the cast between installations as YAML: export, import elsewhere, import again."""
from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import Room
from personas.models import Persona, RoomCast, RosterEntry
from personas.yaml_io import cast_export_yaml
from tests.factories import RoomFactory
from tests.personas.factories import PersonaFactory, RosterEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)


def build_cast() -> None:
    room = RoomFactory(slug="arena", title="The Arena", description="Line one.\nLine two.", slow_mode_seconds=5)
    quiet = RoomFactory(slug="lobby", title="Lobby", is_live=False)
    hype = PersonaFactory(handle="hype", bio="Loud.\nVery loud.", chattiness=0.15, emotes=["PogChamp", "HYPERS"])
    analyst = PersonaFactory(handle="analyst", enabled=False, drift_review="frozen", temperature=0.55)
    RosterEntryFactory(room=room, persona=hype, chattiness=0.12, extra_style="Calmer here.")
    RosterEntryFactory(room=room, persona=analyst, enabled=False, max_posts_per_minute=1)
    RosterEntryFactory(room=quiet, persona=hype)
    RoomCast.objects.create(room=room, hype_multiplier=1.7, bot_human_bias=0.65, max_inflight=2)


def export() -> str:
    out = io.StringIO()
    call_command("export_cast", stdout=out)
    return out.getvalue()


def import_file(tmp_path, text: str, *args: str) -> str:
    path = tmp_path / "cast.yaml"
    path.write_text(text)
    out = io.StringIO()
    call_command("import_cast", str(path), *args, stdout=out)
    return out.getvalue()


def wipe() -> None:
    Room.objects.all().delete()
    Persona.objects.all().delete()


def test_it_exports_a_versioned_file_sorted_by_handle_and_slug(tmp_path):
    build_cast()
    text = export()
    data = yaml.safe_load(text)
    assert data["version"] == 1
    assert [p["handle"] for p in data["personas"]] == ["analyst", "hype"]
    assert [r["slug"] for r in data["rooms"]] == ["arena", "lobby"]
    arena = data["rooms"][0]
    assert arena["cast"]["hype_multiplier"] == 1.7
    assert [(e["persona"], e["chattiness"]) for e in arena["roster"]] == [("analyst", None), ("hype", 0.12)]
    assert list(data["personas"][0])[:3] == ["handle", "enabled", "color"]
    assert text == export()  # byte-identical: safe to keep in version control
    target = tmp_path / "out.yaml"
    call_command("export_cast", "--output", str(target), stderr=io.StringIO())
    assert target.read_text() == text


def test_it_round_trips_into_a_clean_database(tmp_path):
    build_cast()
    before = export()
    wipe()
    output = import_file(tmp_path, before)
    assert "8 created, 0 updated, 0 unchanged" in output  # 2 personas, 2 rooms, 1 cast, 3 roster entries
    assert export() == before
    hype = Persona.objects.get(handle="hype")
    assert hype.bio == "Loud.\nVery loud." and hype.emotes == ["PogChamp", "HYPERS"]
    assert RosterEntry.objects.get(room__slug="arena", persona=hype).extra_style == "Calmer here."


def test_it_changes_nothing_when_the_same_file_is_imported_again(tmp_path):
    build_cast()
    text = export()
    updated_at = dict(Persona.objects.values_list("handle", "updated_at"))
    with CaptureQueriesContext(connection) as queries:
        output = import_file(tmp_path, text)
    assert "0 created, 0 updated, 8 unchanged" in output
    writes = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == []
    assert dict(Persona.objects.values_list("handle", "updated_at")) == updated_at


def test_it_updates_only_what_the_file_changes(tmp_path):
    build_cast()
    data = yaml.safe_load(export())
    data["personas"][1]["chattiness"] = 0.02
    data["rooms"][0]["roster"][1]["chattiness"] = None
    output = import_file(tmp_path, yaml.safe_dump(data))
    assert "update persona hype (chattiness: 0.15 → 0.02)" in output
    assert "0 created, 2 updated, 6 unchanged" in output
    assert Persona.objects.get(handle="hype").chattiness == 0.02
    assert RosterEntry.objects.get(room__slug="arena", persona__handle="hype").chattiness is None


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["personas"][1].update(chattiness=1.5), "personas[1].chattiness: Ensure this value is less than or equal to 1.0."),
        (lambda d: d["personas"][0].update(emotes=["Pog", "NotAnEmote"]), "personas[0].emotes: unknown emote 'NotAnEmote'"),
        (lambda d: d["personas"][0].update(color="red"), "personas[0].color:"),
        (lambda d: d["personas"][0].update(max_posts_per_minute="lots"), "personas[0].max_posts_per_minute: Input should be a valid integer"),
        (lambda d: d["personas"][0].update(chatiness=0.1), "personas[0].chatiness: Extra inputs are not permitted"),
        (lambda d: d["rooms"][0]["roster"].append({"persona": "ghost"}), "rooms[0].roster[2].persona: unknown persona 'ghost'"),
        (lambda d: d["rooms"][0]["cast"].update(bot_human_bias=-1), "rooms[0].cast.bot_human_bias: Ensure this value is greater than or equal to 0"),
        (lambda d: d.update(version=2), "version: Input should be 1"),
    ],
)
def test_it_rejects_bad_values_with_their_path_and_changes_nothing(tmp_path, edit, expected):
    build_cast()
    data = yaml.safe_load(export())
    data["personas"].append({"handle": "newcomer"})  # valid on its own: must not be created either
    edit(data)
    before = export()
    with pytest.raises(CommandError) as caught:
        import_file(tmp_path, yaml.safe_dump(data))
    assert expected in str(caught.value)
    assert "nothing changed" in str(caught.value)
    assert export() == before


def test_it_rejects_a_file_that_is_not_yaml(tmp_path):
    with pytest.raises(CommandError, match="not valid YAML"):
        import_file(tmp_path, "personas: [unclosed")


def test_it_changes_nothing_on_a_dry_run(tmp_path):
    build_cast()
    data = yaml.safe_load(export())
    data["personas"][1]["bio"] = "Quieter now."
    data["personas"].append({"handle": "newcomer", "chattiness": 0.04})
    before = export()
    output = import_file(tmp_path, yaml.safe_dump(data), "--dry-run")
    assert "would create persona newcomer (chattiness: 0.04)" in output
    assert "would update persona hype" in output
    assert "dry run, nothing written: would be 1 created, 1 updated, 7 unchanged" in output
    assert export() == before


def test_it_keeps_roster_entries_missing_from_the_file_unless_asked_to_prune(tmp_path):
    build_cast()
    data = yaml.safe_load(export())
    data["rooms"][0]["roster"] = [entry for entry in data["rooms"][0]["roster"] if entry["persona"] != "analyst"]
    import_file(tmp_path, yaml.safe_dump(data))
    assert RosterEntry.objects.filter(room__slug="arena", persona__handle="analyst").exists()
    output = import_file(tmp_path, yaml.safe_dump(data), "--prune")
    assert "delete roster arena/analyst" in output
    assert not RosterEntry.objects.filter(room__slug="arena", persona__handle="analyst").exists()
    assert RosterEntry.objects.filter(room__slug="lobby", persona__handle="hype").exists()


def test_it_keeps_values_a_partial_file_leaves_out(tmp_path):
    build_cast()
    import_file(tmp_path, "version: 1\npersonas:\n  - handle: hype\n    chattiness: 0.1\n")
    hype = Persona.objects.get(handle="hype")
    assert (hype.chattiness, hype.bio, hype.emotes) == (0.1, "Loud.\nVery loud.", ["PogChamp", "HYPERS"])
    assert cast_export_yaml().count("handle:") == 2
