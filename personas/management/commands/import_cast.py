"""`import_cast FILE [--dry-run] [--prune]`: apply a cast YAML file (from `export_cast`) idempotently."""
from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatter_site.lib.errors import ChatterError
from personas.yaml_io import cast_import


class Command(BaseCommand):
    help = (
        "Import personas, room settings, room cast knobs and rosters from YAML. The whole file is checked "
        "first and applied in one transaction; importing the same file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the YAML file, or - for stdin")
        parser.add_argument("--dry-run", action="store_true", help="show what would change, write nothing")
        parser.add_argument(
            "--prune", action="store_true", help="remove roster entries of the listed rooms that the file does not list"
        )
        parser.add_argument("--verbose-unchanged", action="store_true", help="also list rows that stay as they are")

    def handle(self, *args, **options) -> None:
        source: str = options["file"]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot read {source}: {error.strerror}") from None
        try:
            plan = cast_import(text=text, dry_run=options["dry_run"], prune=options["prune"])
        except ChatterError as error:
            raise CommandError(f"{source} was not imported, nothing changed:\n{error.message}") from None
        for change in plan.changes:
            if change.action != "unchanged" or options["verbose_unchanged"]:
                self.stdout.write(("would " if options["dry_run"] else "") + change.describe())
        prefix = "dry run, nothing written: would be " if options["dry_run"] else ""
        self.stdout.write(self.style.SUCCESS(prefix + plan.summary()))
