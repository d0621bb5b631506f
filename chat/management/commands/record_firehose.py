"""`record_firehose --room SLUG [--out FILE] [--follow] [--from-db [--after-seq N]] [--limit N]`.

Writes a room's chat.firehose as JSONL (one ChatMessage a line), the input of `replay`.
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import nullcontext

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.replay import RecordResult, firehose_record, room_history_record
from chatter_site.lib.errors import ChatterError


class Command(BaseCommand):
    help = (
        "Record a room's firehose as JSONL for `replay`: what the Redis stream chatter:firehose:<room> still holds "
        "(the last CHATTER_FIREHOSE_MAXLEN messages), then with --follow every new message until Ctrl-C; "
        "or, with --from-db, the persisted messages from PostgreSQL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--room", required=True, help="slug of the room to record")
        parser.add_argument("--out", "-o", default="-", help="JSONL file to write (default - = stdout); overwritten")
        parser.add_argument("--follow", action="store_true", help="keep recording new messages until Ctrl-C")
        parser.add_argument("--max-seconds", type=float, default=None, help="with --follow: stop after this long")
        parser.add_argument("--from-db", action="store_true", help="read persisted messages from the database instead")
        parser.add_argument("--after-seq", type=int, default=0, help="with --from-db: only messages after this seq")
        parser.add_argument("--limit", type=int, default=None, help="stop after N messages")

    def handle(self, *args, **options) -> None:
        if options["from_db"] and options["follow"]:
            raise CommandError("--follow reads the live stream; it does not go with --from-db")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be positive")
        to_stdout = options["out"] == "-"
        # Progress goes to stderr when the recording itself goes to stdout.
        log = self.stderr if to_stdout else self.stdout
        stop = threading.Event()
        previous = _stop_on_signals(stop)
        try:
            with nullcontext(sys.stdout) if to_stdout else open(options["out"], "w", encoding="utf-8") as out:
                if options["from_db"]:
                    result = room_history_record(
                        room_slug=options["room"], out=out, after_seq=options["after_seq"], limit=options["limit"]
                    )
                else:
                    if options["follow"]:
                        log.write(f"recording room '{options['room']}' (Ctrl-C stops)")
                    result = firehose_record(
                        room_slug=options["room"],
                        out=out,
                        follow=options["follow"],
                        limit=options["limit"],
                        max_seconds=options["max_seconds"],
                        stop=stop,
                        on_progress=(lambda progress: log.write(self._line(progress, "recorded"))) if options["follow"] else None,
                    )
        except OSError as error:
            raise CommandError(f"cannot write {options['out']}: {error.strerror}") from None
        except ChatterError as error:
            raise CommandError(error.message) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        where = "" if to_stdout else f" to {options['out']}"
        log.write(self.style.SUCCESS(self._line(result, "recorded") + where + f" ({result.stopped_by})"))

    @staticmethod
    def _line(result: RecordResult, verb: str) -> str:
        last = f", last seq {result.last_seq}" if result.last_seq is not None else ""
        skipped = f", {result.skipped} unreadable entries skipped" if result.skipped else ""
        return f"{verb} {result.written} messages{last}{skipped}"


def _stop_on_signals(stop: threading.Event) -> dict:
    """Ctrl-C and SIGTERM set `stop` (the loop ends between two messages); only the main thread may
    install handlers, so elsewhere (call_command in a thread) the caller's stop event is all there is."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
