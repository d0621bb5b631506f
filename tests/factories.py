"""Test data factories. Messages go through the real gateway service, never straight to the table."""
from __future__ import annotations

import uuid

import factory
from django.contrib.auth import get_user_model

from chat.models import Room


class RoomFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Room
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"room-{n}-{uuid.uuid4().hex[:6]}")
    title = factory.LazyAttribute(lambda room: room.slug.replace("-", " ").title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"viewer{n}_{uuid.uuid4().hex[:4]}")
    password = factory.django.Password("correct-horse-battery")


def bot_draft(*, room: Room, text: str, handle: str = "testbot", client_id: str | None = None) -> dict:
    return {
        "room": room.slug,
        "origin": "bot",
        "author": {"name": handle, "color": "#33aaff", "badges": ["bot"]},
        "author_key": f"bot:{handle}",
        "text": text,
        "client_id": client_id,
    }
