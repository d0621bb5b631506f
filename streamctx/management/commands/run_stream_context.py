"""`run_stream_context --room <slug> (--audio <file|URL|-> | --script <file>)`: feed a room's stream context."""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.selectors import room_get
from chatter_site.lib.errors import ChatterError
from chatter_site.lib.runtime import EXIT_SOURCE_YIELDED
from streamctx.pipeline import YIELDED_REASONS, StreamContextSession, new_source_id, paced
from streamctx.scripted import FORMAT_HINT, script_load, script_playback


class Command(BaseCommand):
    help = "Turn live audio (or a timed transcript script) into a room's rolling stream context."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--room", required=True, help="slug of the room to publish to")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--audio", help="audio file, http(s) URL, or - for stdin (decoded with PyAV/ffmpeg)")
        source.add_argument("--script", type=Path, help=f"timed transcript file ({FORMAT_HINT} per line, or .jsonl)")
        parser.add_argument("--loop", action="store_true", help="replay the script forever")
        parser.add_argument("--speed", type=float, default=1.0, help="script playback speed (default 1.0)")
        parser.add_argument("--window", type=float, default=settings.STREAMCTX_WINDOW_SECONDS, help="rolling window seconds (20-60)")
        parser.add_argument("--cadence", type=float, default=settings.STREAMCTX_CADENCE_SECONDS, help="seconds between publishes")
        parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long (for tests and benchmarks)")
        parser.add_argument(
            "--if-free",
            action="store_true",
            help=f"only play while no other source has the room: leave a busy room alone, stop when taken over "
            f"(both exit with status {EXIT_SOURCE_YIELDED}); runchatter's demo source runs this way",
        )

    def handle(self, *args, **options) -> None:
        if not 20 <= options["window"] <= 60:
            raise CommandError("--window must be between 20 and 60 seconds")
        if options["cadence"] <= 0 or options["speed"] <= 0:
            raise CommandError("--cadence and --speed must be positive")
        try:
            room = room_get(slug=options["room"])
        except ChatterError as error:
            raise CommandError(f"{error.message} (create it in admin first)") from None

        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())

        if options["script"]:
            try:
                script = script_load(options["script"])
            except ChatterError as error:
                raise CommandError(error.message) from None
            playback = script_playback(script, loop=options["loop"], split_at_pauses=True)
            segments = paced(playback, speed=options["speed"], stop=stop)
            kind = "script"
        else:
            from streamctx.audio import audio_segments, transcriber_load

            try:
                transcriber = transcriber_load()
                segments = audio_segments(options["audio"], transcriber=transcriber, room_slug=room.slug, stop=stop)
            except ChatterError as error:
                raise CommandError(error.message) from None
            kind = "audio"

        session = StreamContextSession(
            room=room, source_id=new_source_id(kind), window_seconds=options["window"], cadence=options["cadence"]
        )
        self.stdout.write(f"stream context for room '{room.slug}' from {kind} (source {session.source_id}); Ctrl-C stops")
        try:
            reason = session.run(segments, max_seconds=options["max_seconds"], stop=stop, take_over=not options["if_free"])
        except ChatterError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"stopped: {reason} after {session.published} published contexts")
        if reason in YIELDED_REASONS:
            # Not a failure, not a normal end either: a supervisor must not start this source again.
            self.stdout.flush()
            sys.exit(EXIT_SOURCE_YIELDED)
