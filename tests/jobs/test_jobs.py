"""The durable-job primitive (chatter_site.lib.jobs) on real PostgreSQL and the real Redis broker."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from chatter_site.jobs.models import Job
from chatter_site.jobs.services import GENERIC_TASK, job_enqueue
from chatter_site.lib.jobs import (
    JobKind,
    JobStatus,
    job_claim,
    job_finish,
    job_kind_register,
    job_kind_sweep,
    job_kind_unregister,
    job_retry,
    job_run,
    jobs_sweep,
)
from chatter_site.lib.redis import redis_client

# A queue no worker consumes: what the primitive sends stays there for the test to count.
TEST_QUEUE = "jobs-test"


@pytest.fixture
def kind():
    redis_client().delete(TEST_QUEUE)
    kind = job_kind_register(
        JobKind(
            name="test-echo", model=Job, task=GENERIC_TASK, filters={"kind": "test-echo"}, queue=TEST_QUEUE,
            lease_seconds=60, backoff_seconds=10, transient=(ConnectionError,),
        )
    )
    yield kind
    job_kind_unregister(kind.name)


def _sent() -> int:
    return redis_client().llen(TEST_QUEUE)


def _job(kind: JobKind, key: str = "a", max_attempts: int = 3) -> Job:
    return Job.objects.create(kind=kind.name, key=key, max_attempts=max_attempts)


@pytest.mark.django_db(transaction=True)
def test_it_lets_exactly_one_of_two_racing_workers_claim_a_job(kind):
    jobs = [_job(kind, key=f"race-{n}") for n in range(20)]
    for job in jobs:
        barrier = threading.Barrier(2, timeout=10)
        won: list[bool] = []

        def attempt(job_id: int = job.pk, barrier: threading.Barrier = barrier, won: list[bool] = won) -> None:
            try:
                barrier.wait()
                won.append(job_claim(kind, job_id=job_id) is not None)
            finally:
                connection.close()  # each thread has its own connection to PostgreSQL

        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        assert sorted(won) == [False, True]
    assert set(Job.objects.filter(kind=kind.name).values_list("status", "attempts")) == {(JobStatus.RUNNING, 1)}


@pytest.mark.django_db
def test_it_lets_the_sweep_hand_an_expired_lease_to_a_new_attempt(kind):
    job = _job(kind)
    first = job_claim(kind, job_id=job.pk)
    assert job_claim(kind, job_id=job.pk) is None  # running: nobody else takes it
    assert job_kind_sweep(kind, now=timezone.now())["lost"] == 0  # lease still current
    counts = job_kind_sweep(kind, now=first.leased_until + timedelta(seconds=1))
    assert counts["lost"] == 1 and _sent() == 1
    second = job_claim(kind, job_id=job.pk)
    assert second is not None and second.job.attempts == 2
    assert not job_finish(first, result={"by": "first"})  # the lost attempt can no longer finish it
    assert job_finish(second, result={"by": "second"})
    job.refresh_from_db()
    assert (job.status, job.result) == (JobStatus.DONE, {"by": "second"})


@pytest.mark.django_db
def test_it_retries_a_named_transient_error_with_growing_backoff(kind):
    job = _job(kind)

    def flaky(claim):
        raise ConnectionError("model down")

    before = timezone.now()
    assert job_run(kind, job_id=job.pk, work=flaky) == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.last_error == "ConnectionError: model down"
    assert before + timedelta(seconds=10) <= job.next_attempt_at <= timezone.now() + timedelta(seconds=12.5)
    assert _sent() == 1  # sent again with a countdown
    assert job_claim(kind, job_id=job.pk) is None  # not due yet
    second = job_claim(kind, job_id=job.pk, now=job.next_attempt_at)
    assert second is not None and second.job.attempts == 2
    from chatter_site.lib.jobs import job_fail

    before = timezone.now()
    assert job_fail(second, error="still down") == "failed"
    job.refresh_from_db()
    assert before + timedelta(seconds=20) <= job.next_attempt_at <= timezone.now() + timedelta(seconds=25)


@pytest.mark.django_db
def test_it_makes_a_job_a_dead_letter_after_its_last_attempt(kind):
    job = _job(kind, max_attempts=2)

    def flaky(claim):
        raise ConnectionError("model down")

    assert job_run(kind, job_id=job.pk, work=flaky) == "failed"
    job.refresh_from_db()
    assert job_run(kind, job_id=job.pk, work=flaky) == "skipped"  # its retry is not due yet
    Job.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now())
    assert job_run(kind, job_id=job.pk, work=flaky) == "dead"
    job.refresh_from_db()
    assert (job.status, job.attempts, job.next_attempt_at) == (JobStatus.DEAD, 2, None)
    assert job_kind_sweep(kind) == {"lost": 0, "dead": 0, "retried": 0, "resent": 0}  # the sweep leaves it


@pytest.mark.django_db
def test_it_makes_a_job_dead_at_once_on_an_error_not_named_transient(kind):
    job = _job(kind)

    def buggy(claim):
        raise ValueError("a bug")

    assert job_run(kind, job_id=job.pk, work=buggy) == "dead"
    job.refresh_from_db()
    assert (job.status, job.attempts, job.last_error) == (JobStatus.DEAD, 1, "ValueError: a bug")


@pytest.mark.django_db
def test_it_brings_a_dead_letter_back_with_fresh_attempts(kind):
    job = _job(kind, max_attempts=1)
    job_run(kind, job_id=job.pk, work=lambda claim: (_ for _ in ()).throw(ConnectionError("down")))
    assert job_retry(kind, job_ids=[job.pk]) == 1
    job.refresh_from_db()
    assert (job.status, job.attempts, job.last_error) == (JobStatus.PENDING, 0, "")
    assert job_run(kind, job_id=job.pk, work=lambda claim: {"result": {"ok": True}}) == "done"
    job.refresh_from_db()
    assert (job.status, job.result) == (JobStatus.DONE, {"ok": True})


@pytest.mark.django_db
def test_it_sweeps_lost_messages_of_failed_and_pending_jobs(kind):
    failed, pending, fresh = _job(kind, "failed"), _job(kind, "pending"), _job(kind, "fresh")
    now = timezone.now()
    Job.objects.filter(pk=failed.pk).update(status=JobStatus.FAILED, attempts=1, next_attempt_at=now - timedelta(seconds=30))
    Job.objects.filter(pk=pending.pk).update(next_attempt_at=now - timedelta(seconds=1))
    Job.objects.filter(pk=fresh.pk).update(next_attempt_at=now + timedelta(seconds=60))
    assert jobs_sweep(now=now)[kind.name] == {"lost": 0, "dead": 0, "retried": 1, "resent": 1}
    assert _sent() == 2
    failed.refresh_from_db()
    assert failed.status == JobStatus.PENDING and failed.next_attempt_at > now
    # A second sweep right after finds nothing to do: every change was conditional and moved the deadline.
    assert jobs_sweep(now=now)[kind.name] == {"lost": 0, "dead": 0, "retried": 0, "resent": 0}


@pytest.mark.django_db
def test_it_makes_the_last_attempt_that_lost_its_worker_a_dead_letter(kind):
    job = _job(kind, max_attempts=1)
    claim = job_claim(kind, job_id=job.pk)
    counts = job_kind_sweep(kind, now=claim.leased_until + timedelta(seconds=1))
    assert counts["dead"] == 1
    job.refresh_from_db()
    assert job.status == JobStatus.DEAD and "lease expired" in job.last_error


@pytest.mark.django_db(transaction=True)
def test_it_enqueues_one_job_per_key_and_rearms_it_once_done(kind):
    job, sent = job_enqueue(kind, key="subject", payload={"n": 1})
    again, sent_again = job_enqueue(kind, key="subject", payload={"n": 2})
    assert (sent, sent_again, again.pk) == (True, False, job.pk)
    assert _sent() == 1
    assert job_run(kind, job_id=job.pk, work=lambda claim: None) == "done"
    rearmed, sent = job_enqueue(kind, key="subject", payload={"n": 3})
    assert sent and rearmed.pk == job.pk and (rearmed.status, rearmed.payload) == (JobStatus.PENDING, {"n": 3})
    assert _sent() == 2
