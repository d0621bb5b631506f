"""`generate_memories [--dry-run] [--inactive-for 2h] [--wait [--timeout 3600]]` (SPEC 6.3).

Finds every conversation quiet for longer than the threshold whose memory is missing or behind,
and enqueues ONE batch job with all of them for the "reflection" workers. --wait follows the job's
progress until the workers are through.
"""
from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatter_site.lib.errors import ChatterError
from memory.selectors import conversation_memories_job_progress
from memory.services.conversations import conversation_memories_enqueue, duration_parse

POLL_SECONDS = 0.5
IDS_SHOWN = 50


class Command(BaseCommand):
    help = "Enqueue one batch job writing conversation memories for conversations inactive longer than a threshold."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="only list the conversations; enqueue nothing")
        parser.add_argument(
            "--inactive-for",
            default=None,
            metavar="DURATION",
            help="how long a conversation must have been quiet, e.g. 2h, 90m, 3600s, 1d "
            f"(default {settings.CONVERSATION_MEMORY_INACTIVE_HOURS:g}h, CHATTER_MEMORY_INACTIVE_HOURS)",
        )
        parser.add_argument("--wait", action="store_true", help="wait for the workers to finish and show progress")
        parser.add_argument("--timeout", type=float, default=3600.0, help="with --wait: give up after this many seconds")

    def handle(self, *args, **options) -> None:
        try:
            inactive_for = (
                duration_parse(options["inactive_for"])
                if options["inactive_for"] is not None
                else timedelta(hours=settings.CONVERSATION_MEMORY_INACTIVE_HOURS)
            )
            ids, job_id = conversation_memories_enqueue(inactive_for=inactive_for, dry_run=options["dry_run"])
        except ChatterError as exc:
            raise CommandError(exc.message) from None

        shown = ", ".join(str(i) for i in ids[:IDS_SHOWN]) + (f", … (+{len(ids) - IDS_SHOWN} more)" if len(ids) > IDS_SHOWN else "")
        noun = "conversation needs" if len(ids) == 1 else "conversations need"
        self.stdout.write(f"{len(ids)} {noun} a memory (inactive for more than {_human(inactive_for)})" + (f": {shown}" if ids else "."))
        if options["dry_run"]:
            self.stdout.write("dry run: nothing enqueued")
            return
        if job_id is None:
            return
        self.stdout.write(f"enqueued batch job {job_id} on the reflection queue")
        if options["wait"]:
            self._wait(job_id=job_id, timeout=options["timeout"])

    def _wait(self, *, job_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_line = ""
        while True:
            progress = conversation_memories_job_progress(job_id=job_id)
            if progress is None:
                raise CommandError(f"batch job {job_id} is gone; check the worker logs")
            line = (
                f"processed {progress.processed}/{progress.total}: "
                f"done {progress.done}, failed {progress.failed}, skipped {progress.skipped}"
            )
            if line != last_line:
                self.stdout.write(line)
                last_line = line
            if progress.finished:
                break
            if time.monotonic() > deadline:
                raise CommandError(
                    f"gave up waiting after {timeout:g}s at {progress.processed}/{progress.total}: "
                    "is a worker consuming the reflection queue?"
                )
            time.sleep(POLL_SECONDS)
        if progress.failed:
            raise CommandError(
                f"{progress.failed} of {progress.total} conversations failed (ids {', '.join(map(str, progress.failed_ids))}); "
                "see the worker log; a rerun retries them"
            )
        self.stdout.write(self.style.SUCCESS(f"finished: {progress.done} written, {progress.skipped} skipped"))


def _human(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
