"""The demo room opens with a cast a viewer can tell apart: different voices, colours, emotes, topics."""
from __future__ import annotations

import pytest

from chat.models import Room
from chat.services import demo_room_seed
from chat.trends import EMOTE_SET
from personas.demo_cast import demo_cast_seed
from personas.models import Persona, RoomCast, RosterEntry
from personas.selectors import cast_for_room

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_room() -> Room:
    demo_room_seed()
    demo_cast_seed()
    return Room.objects.get(slug="demo")


def test_it_seeds_at_least_eight_distinct_personas(demo_room):
    personas = list(Persona.objects.all())
    assert len(personas) >= 8
    for attribute in ("handle", "color", "style", "bio"):
        values = [getattr(persona, attribute) for persona in personas]
        assert len(set(values)) == len(values), attribute
    assert len({tuple(persona.emotes) for persona in personas}) == len(personas)
    assert len({tuple(persona.loved_topics) for persona in personas}) == len(personas)


def test_it_varies_how_chatty_and_how_random_they_are(demo_room):
    personas = list(Persona.objects.all())
    assert all(0.03 <= p.chattiness <= 0.15 for p in personas)
    assert all(2 <= p.max_posts_per_minute <= 6 for p in personas)
    assert len({p.chattiness for p in personas}) >= 5
    assert len({p.max_posts_per_minute for p in personas}) >= 4
    assert len({p.temperature for p in personas}) >= 4


def test_it_uses_only_emotes_chat_renders(demo_room):
    for persona in Persona.objects.all():
        assert persona.emotes and set(persona.emotes) <= EMOTE_SET, persona.handle


def test_it_talks_about_what_happens_on_the_demo_stream(demo_room):
    topics = " ".join(topic for persona in Persona.objects.all() for topic in persona.loved_topics)
    for subject in ("boss rush", "wall clip", "fireball skip", "ice cavern", "music", "speedrun"):
        assert subject in topics, subject


def test_it_puts_every_persona_on_the_demo_roster(demo_room):
    assert {member.handle for member in cast_for_room(room=demo_room)} == set(Persona.objects.values_list("handle", flat=True))
    assert RoomCast.objects.filter(room=demo_room).exists()


def test_it_can_run_again_without_duplicates_or_undoing_moderator_edits(demo_room):
    counts = (Persona.objects.count(), RosterEntry.objects.count(), RoomCast.objects.count())
    Persona.objects.filter(handle="HypeTrainHank").update(chattiness=0.01, enabled=False)
    demo_cast_seed()
    assert (Persona.objects.count(), RosterEntry.objects.count(), RoomCast.objects.count()) == counts
    hank = Persona.objects.get(handle="HypeTrainHank")
    assert (hank.chattiness, hank.enabled) == (0.01, False)


def test_it_creates_the_demo_room_when_it_is_missing():
    demo_cast_seed()
    assert RosterEntry.objects.filter(room__slug="demo").count() == Persona.objects.count() >= 8


def test_it_passes_the_rules_admin_and_import_apply(demo_room):
    from personas.forms import PersonaForm

    for persona in Persona.objects.all():
        form = PersonaForm(instance=persona, data=None)
        data = {name: form[name].value() for name in form.fields}
        data = {key: value for key, value in data.items() if value is not None and value is not False}
        bound = PersonaForm(instance=persona, data=data)
        assert bound.is_valid(), (persona.handle, bound.errors)
