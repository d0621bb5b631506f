"""`replay FILE --room SLUG [--speed X | --as-fast-as-possible] [--max-gap S] [--limit N] [--dry-run]`.

Replays a recorded firehose (JSONL from `record_firehose`) into a room through the real gateway;
the rules (validation, authors, idempotency, timing) are in chat/replay.py.
"""
from __future__ import annotations

import secrets
import signal
import sys
import threading

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.replay import ReplayPlan, ReplayProgress, replay_file_load, replay_plan, replay_run
from chatter_site.lib.errors import ChatterError

INTERRUPTED_EXIT_CODE = 130


class Command(BaseCommand):
    help = (
        "Replay a recorded firehose (JSONL, one ChatMessage a line) into a room through the real gateway, "
        "at the recorded pace scaled by --speed. The whole file is validated first: a bad line sends nothing. "
        "Re-running the same file into the same room sends only what is missing (idempotent); "
        "--fresh sends everything again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the JSONL file, or - for stdin")
        parser.add_argument("--room", required=True, help="slug of the room to replay into (must exist)")
        pace = parser.add_mutually_exclusive_group()
        pace.add_argument("--speed", type=float, default=1.0, help="1.0 = recorded pace (default), 2.0 = twice as fast")
        pace.add_argument("--as-fast-as-possible", action="store_true", help="no waiting between messages (load)")
        parser.add_argument(
            "--max-gap",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="longest wait between two messages, after scaling (default 10; 'inf' keeps every silence)",
        )
        parser.add_argument("--limit", type=int, default=None, help="replay only the first N messages of the file")
        parser.add_argument("--dry-run", action="store_true", help="validate and show the plan; send and create nothing")
        tag = parser.add_mutually_exclusive_group()
        tag.add_argument(
            "--run-tag",
            default="",
            help="part of every message's idempotency key; the same tag again sends only what is missing (default: none)",
        )
        tag.add_argument("--fresh", action="store_true", help="a new random run tag: send every message again")
        parser.add_argument(
            "--enforce-limits",
            action="store_true",
            help="apply viewers' rate limit and slow mode to replayed humans (off by default: they passed them when recorded)",
        )
        parser.add_argument("--progress-every", type=int, default=100, metavar="N", help="progress line every N messages")
        parser.add_argument(
            "--progress-seconds", type=float, default=5.0, metavar="S", help="and at least every S seconds (default 5)"
        )

    def handle(self, *args, **options) -> None:
        if options["limit"] is not None and options["limit"] < 0:
            raise CommandError("--limit must not be negative")
        if options["progress_every"] < 1 or options["progress_seconds"] <= 0:
            raise CommandError("--progress-every and --progress-seconds must be positive")
        speed = None if options["as_fast_as_possible"] else options["speed"]
        run_tag = secrets.token_hex(4) if options["fresh"] else options["run_tag"]
        try:
            file = replay_file_load(path=options["file"], stdin=sys.stdin)
            plan = replay_plan(
                file=file,
                room_slug=options["room"],
                speed=speed,
                max_gap=options["max_gap"],
                limit=options["limit"],
                run_tag=run_tag,
            )
        except ChatterError as error:
            raise CommandError(f"{error.message}\nnothing was sent") from None

        self.stdout.write(self._plan_line(plan))
        if options["dry_run"]:
            self.stdout.write(self.style.SUCCESS("dry run: the file is valid; nothing sent, nothing created"))
            return

        stop = threading.Event()
        previous = _stop_on_signals(stop)
        try:
            result = replay_run(
                plan=plan,
                stop=stop,
                on_progress=lambda progress: self.stdout.write(self._progress_line(progress)),
                progress_every=options["progress_every"],
                progress_seconds=options["progress_seconds"],
                enforce_limits=options["enforce_limits"],
            )
        except ChatterError as error:
            raise CommandError(error.message) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

        self.stdout.write(self._summary(plan, result))
        for example in result.refusal_examples:
            self.stdout.write(f"  refused {example}")
        if result.interrupted:
            rerun = f" --run-tag {plan.run_tag}" if plan.run_tag else ""
            raise CommandError(
                f"interrupted after {result.done} of {result.total}; run the same command{rerun} again to send the rest",
                returncode=INTERRUPTED_EXIT_CODE,
            )

    def _plan_line(self, plan: ReplayPlan) -> str:
        origins = ", ".join(f"{count} {origin}" for origin, count in sorted(plan.origins.items())) or "nothing"
        pace = "as fast as possible" if plan.speed is None else f"speed {plan.speed:g}, about {plan.duration:.1f}s"
        parts = [f"replay {plan.file.name} into room '{plan.room.slug}': {len(plan.items)} messages ({origins}), {pace}"]
        if plan.already_there:
            parts.append(f"{plan.already_there} already replayed (skipped)")
        if plan.file.duplicate_lines:
            parts.append(f"{plan.file.duplicate_lines} duplicate lines in the file (same message id, once)")
        parts.append(f"run tag {plan.run_tag!r}" if plan.run_tag else "idempotent: no run tag")
        return "; ".join(parts)

    @staticmethod
    def _progress_line(progress: ReplayProgress) -> str:
        return (
            f"{progress.done}/{progress.total}: sent {progress.sent}, skipped {progress.already_there}, "
            f"refused {sum(progress.refused.values())}; {progress.rate:.1f} msg/s; "
            f"lag {progress.lag:.2f}s behind schedule (max {progress.max_lag:.2f}s)"
        )

    def _summary(self, plan: ReplayPlan, result: ReplayProgress) -> str:
        refused = ", ".join(f"{count} {code}" for code, count in sorted(result.refused.items())) or "0"
        seqs = f", seq {result.first_seq}–{result.last_seq}" if result.first_seq is not None else ""
        line = (
            f"{'stopped' if result.interrupted else 'finished'}: sent {result.sent}{seqs}, already there {result.already_there}, "
            f"refused {refused}, of {result.total} in {result.elapsed:.1f}s ({result.rate:.1f} msg/s, "
            f"max lag {result.max_lag:.2f}s)"
        )
        return line if result.interrupted else self.style.SUCCESS(line)


def _stop_on_signals(stop: threading.Event) -> dict:
    """Ctrl-C and SIGTERM set `stop` (the loop ends between two messages); only the main thread may
    install handlers, so elsewhere (call_command in a thread) the caller's stop event is all there is."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
