"""`manage.py runchatter`: the one run command (web, workers, beat and the embedded services)."""
from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from chatter_site.lib.env import env_int
from chatter_site.lib.errors import ChatterError
from chatter_site.lib.runner import RunOptions, run_chatter


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


class Command(BaseCommand):
    help = (
        "Run chatter: migrate (and seed a demo room on an empty database), start the embedded Redis "
        "when REDIS_URL is unset, then Daphne, a Celery worker and Celery beat. Ctrl-C stops everything."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        try:
            default_port = env_int("PORT", 8000, minimum=1, maximum=65535)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        parser.add_argument("--port", type=_positive_int, default=default_port, help="HTTP port (default: $PORT or 8000)")
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
        parser.add_argument(
            "--workers", type=_positive_int, default=2, help="Celery worker concurrency (default: 2)"
        )
        parser.add_argument(
            "--daphnes", type=_positive_int, default=1,
            help="Daphne processes; more than one are served behind HAProxy on the port (default: 1)",
        )
        parser.add_argument(
            "--no-demo-stream", action="store_true", help="do not play the scripted stream into the demo room"
        )
        parser.add_argument(
            "--status-every",
            type=_positive_int,
            default=60,
            metavar="SECONDS",
            help="seconds between status lines on the console (default: 60)",
        )
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="show every process's output on the console too (it always goes to var/log/<process>.log)",
        )

    def handle(self, *args: Any, host: str, port: int, workers: int, daphnes: int, **options: Any) -> None:
        colour = False if options["no_color"] else True if options["force_color"] else None
        run_options = RunOptions(
            host=host,
            port=port,
            workers=workers,
            daphnes=daphnes,
            colour=colour,
            demo_stream=not options["no_demo_stream"],
            verbose=options["verbose"],
            status_interval=float(options["status_every"]),
        )
        try:
            status = run_chatter(options=run_options, out=self.stdout)
        except ChatterError as exc:
            raise CommandError(exc.message) from exc
        if status:
            raise SystemExit(status)
