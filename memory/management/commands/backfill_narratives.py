"""`backfill_narratives [--subjects personas|viewers|all] [--min-memories N] [--batch-size N]
[--concurrency N] [--force]` (SPEC 6.4): fill the narrative cache for existing personas and viewers.

Idempotent: subjects with a fresh narrative are skipped unless --force. Each subject is isolated:
one failure is counted and reported, the others go on. Runs in this process (threads), not on the
workers, so staff see every batch's progress as it happens.
"""
from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatter_site.lib.errors import ChatterError
from memory.services.narratives import BackfillBatch, narratives_backfill


class Command(BaseCommand):
    help = "Generate missing or stale narratives for existing personas and regular viewers, in concurrent batches."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--subjects", choices=("personas", "viewers", "all"), default="all")
        parser.add_argument(
            "--min-memories",
            type=int,
            default=None,
            metavar="N",
            help="skip subjects with fewer than N memories; viewers also need N messages to count as regulars "
            f"(default {settings.NARRATIVE_MIN_MEMORIES}, CHATTER_NARRATIVE_MIN_MEMORIES)",
        )
        parser.add_argument("--batch-size", type=int, default=20, metavar="N")
        parser.add_argument("--concurrency", type=int, default=4, metavar="N", help="LLM calls in parallel")
        parser.add_argument("--force", action="store_true", help="regenerate fresh narratives too")

    def handle(self, *args, **options) -> None:
        def on_batch(batch: BackfillBatch) -> None:
            self.stdout.write(
                f"batch {batch.index}/{batch.batches}: generated {batch.generated}, skipped {batch.skipped}, "
                f"failed {batch.failed} ({batch.processed_total}/{batch.total} subjects)"
            )

        try:
            summary = narratives_backfill(
                subjects=options["subjects"],
                min_memories=options["min_memories"],
                batch_size=options["batch_size"],
                concurrency=options["concurrency"],
                force=options["force"],
                on_batch=on_batch,
            )
        except ChatterError as exc:
            raise CommandError(exc.message) from None
        for subject, reason in summary.failures:
            self.stderr.write(f"failed {subject}: {reason}")
        line = (
            f"done: {summary.total} subjects, generated {summary.generated}, "
            f"skipped {summary.skipped} ({summary.skipped_fresh} fresh, {summary.skipped_few} with too few memories), "
            f"failed {summary.failed}"
        )
        if summary.failed:
            raise CommandError(line + "; rerun to retry the failed ones")
        self.stdout.write(self.style.SUCCESS(line))
