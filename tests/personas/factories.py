"""Persona test data: personas, roster entries, room cast settings."""
from __future__ import annotations

import factory

from personas.models import Persona, RoomCast, RosterEntry
from tests.factories import RoomFactory


class PersonaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Persona
        django_get_or_create = ("handle",)

    handle = factory.Sequence(lambda n: f"persona{n}")
    color = factory.Sequence(lambda n: f"#{(n * 2654435761) % 0xFFFFFF:06x}")
    badges = factory.LazyFunction(lambda: ["bot"])
    bio = factory.LazyAttribute(lambda persona: f"{persona.handle} watches every stream.")
    style = "Short lines, lowercase."
    catchphrases = factory.LazyFunction(lambda: ["let's go"])
    emotes = factory.LazyFunction(lambda: ["Pog", "KEKW"])
    loved_topics = factory.LazyFunction(lambda: ["speedrun"])
    mention_reaction = 1.0  # tests that @mention a persona expect its answer every time
    hated_topics = factory.LazyFunction(lambda: ["lag"])


class RosterEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RosterEntry

    room = factory.SubFactory(RoomFactory)
    persona = factory.SubFactory(PersonaFactory)


class RoomCastFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoomCast
        django_get_or_create = ("room",)

    room = factory.SubFactory(RoomFactory)
