"""`export_cast [--output FILE]`: the cast (personas, rooms, room knobs, rosters) as versionable YAML."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from personas.yaml_io import cast_export_yaml


class Command(BaseCommand):
    help = "Export personas, room settings, room cast knobs and rosters as YAML (stdout, or --output FILE)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", type=Path, default=None, help="write to this file instead of stdout")

    def handle(self, *args, **options) -> None:
        text = cast_export_yaml()
        output: Path | None = options["output"]
        if output is None:
            self.stdout.write(text, ending="")
            return
        output.write_text(text, encoding="utf-8")
        self.stderr.write(f"wrote {output}")
