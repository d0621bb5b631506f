"""Filling the narrative cache for existing subjects (`backfill_narratives`; docs/architecture.md,
"Memory", narratives): batches on a thread pool, one failing subject never stops the rest.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from django.conf import settings
from django.db import connections

from chatter_site.lib.errors import ChatterError, ErrorCode
from memory.selectors import SubjectType, narrative_backfill_candidates, narrative_is_fresh
from memory.services.narratives.generation import narrative_regenerate_outcome

log = logging.getLogger("chatter.memory.narratives")


@dataclass
class BackfillBatch:
    index: int
    batches: int
    generated: int = 0
    skipped: int = 0
    failed: int = 0
    processed_total: int = 0
    total: int = 0


@dataclass
class BackfillSummary:
    total: int = 0
    generated: int = 0
    skipped_fresh: int = 0
    skipped_few: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.skipped_fresh + self.skipped_few


ItemResult = tuple[Literal["generated", "skipped_fresh", "skipped_few", "failed"], str]


def _backfill_one(subject_type: SubjectType, subject_key: str, *, min_memories: int, force: bool) -> ItemResult:
    try:
        if not force and narrative_is_fresh(subject_type=subject_type, subject_key=subject_key):
            return "skipped_fresh", ""
        outcome = narrative_regenerate_outcome(subject_type=subject_type, subject_key=subject_key, min_sources=min_memories)
        if outcome.narrative is None:
            return "skipped_few", outcome.skipped_reason
        return "generated", ""
    except ChatterError as exc:  # expected (the model is down or answered junk): no traceback
        log.warning("narrative backfill failed subject=%s:%s reason=%s", subject_type, subject_key, exc.message)
        return "failed", exc.message
    except Exception as exc:  # one subject must never stop the backfill
        log.exception("narrative backfill failed subject=%s:%s", subject_type, subject_key)
        return "failed", f"{type(exc).__name__}: {exc}"
    finally:
        connections.close_all()  # this runs on a pool thread: give its connection back


def narratives_backfill(
    *,
    subjects: str = "all",
    min_memories: int | None = None,
    batch_size: int = 20,
    concurrency: int = 4,
    force: bool = False,
    on_batch: Callable[[BackfillBatch], None] | None = None,
) -> BackfillSummary:
    """Fill the narrative cache for existing subjects, `batch_size` at a time with `concurrency` threads."""
    if subjects not in ("personas", "viewers", "all"):
        raise ChatterError(ErrorCode.INVALID, f"--subjects must be personas, viewers or all, not {subjects!r}")
    if batch_size < 1 or concurrency < 1:
        raise ChatterError(ErrorCode.INVALID, "batch size and concurrency must be at least 1")
    threshold = settings.NARRATIVE_MIN_MEMORIES if min_memories is None else min_memories
    if threshold < 0:
        raise ChatterError(ErrorCode.INVALID, "the minimum number of memories cannot be negative")
    candidates = narrative_backfill_candidates(subjects=subjects, min_messages=threshold)
    summary = BackfillSummary(total=len(candidates))
    batches = [candidates[i : i + batch_size] for i in range(0, len(candidates), batch_size)]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="narrative-backfill") as pool:
        for index, batch in enumerate(batches, start=1):
            results = list(
                pool.map(lambda subject: _backfill_one(*subject, min_memories=threshold, force=force), batch)
            )
            progress = BackfillBatch(index=index, batches=len(batches), total=len(candidates))
            for (subject_type, subject_key), (result, reason) in zip(batch, results, strict=True):
                setattr(summary, result, getattr(summary, result) + 1)
                if result == "generated":
                    progress.generated += 1
                elif result == "failed":
                    progress.failed += 1
                    summary.failures.append((f"{subject_type}:{subject_key}", reason))
                else:
                    progress.skipped += 1
            progress.processed_total = summary.generated + summary.skipped + summary.failed
            if on_batch is not None:
                on_batch(progress)
    return summary
