"""The registry of job kinds: which table, which task, how long a lease, how retries back off."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Setting = float | int | Callable[[], float]


def setting_value(value: Setting) -> float:
    """Kinds may give a number or a callable reading settings at use time (tests override settings)."""
    return float(value() if callable(value) else value)


@dataclass(frozen=True)
class JobKind:
    """One kind of durable job.

    `model` is a concrete subclass of DurableJob; `filters` narrows a shared table to this kind
    (e.g. {"kind": "narrative"} on jobs.Job). `task` is the Celery task name that runs one attempt
    given the job id. Exceptions in `transient` fail the attempt and retry it with backoff and
    jitter; any other exception makes the job dead at once.
    """

    name: str
    model: Any
    task: str
    label: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    lease_seconds: Setting = 300.0
    backoff_seconds: Setting = 4.0
    backoff_jitter: float = 0.25
    transient: tuple[type[BaseException], ...] = (Exception,)
    # Send options from the job (e.g. its priority); None sends with the kind's queue only.
    send_options: Callable[[Any], dict[str, Any]] | None = None
    # What one attempt does, for kinds run by the generic task (jobs.tasks.job_run_task); it gets
    # the Claim and returns result columns for the DONE row (or None).
    work: Callable[[Any], dict[str, Any] | None] | None = None
    # Replaces the default send (the task by name, with send_options): (job, countdown) -> sent.
    send: Callable[..., bool] | None = None

    @property
    def title(self) -> str:
        return self.label or self.name

    def rows(self) -> Any:
        return self.model.objects.filter(**self.filters)


_KINDS: dict[str, JobKind] = {}


def job_kind_register(kind: JobKind) -> JobKind:
    """Register (or replace, e.g. on a settings reload) a kind; the sweep walks every registered one."""
    _KINDS[kind.name] = kind
    return kind


def job_kind(name: str) -> JobKind:
    return _KINDS[name]


def job_kinds() -> list[JobKind]:
    return list(_KINDS.values())


def job_kind_unregister(name: str) -> None:
    _KINDS.pop(name, None)
