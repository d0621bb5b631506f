"""`manage.py seed_demo`: the demo rooms and cast on an empty database (runchatter runs it at start)."""
from __future__ import annotations

import traceback
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string


class Command(BaseCommand):
    help = "Seed the demo (settings.CHATTER_DEMO_SEEDERS) when the database has no chat room yet."

    def handle(self, *args: Any, **options: Any) -> None:
        # "Empty" means no chat room at all: the rooms are what a visitor sees first.
        Room = apps.get_model("chat", "Room")
        if Room.objects.exists():
            return
        for dotted in settings.CHATTER_DEMO_SEEDERS:
            try:
                result = import_string(dotted)()
            except Exception as exc:  # a broken seeder must say which one, not a bare traceback
                self.stderr.write(traceback.format_exc().rstrip())
                raise CommandError(f"demo seeder {dotted} failed: {exc!r}") from exc
            self.stdout.write(f"seeded: {dotted}" + (f" ({result})" if result else ""))
        slugs = ", ".join(Room.objects.order_by("slug").values_list("slug", flat=True)) or "none"
        self.stdout.write(f"seeded an empty database; rooms: {slugs}")
