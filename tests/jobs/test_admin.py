"""Dead letters of generic durable jobs are visible in admin and staff can send them again."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from chatter_site.jobs.models import Job
from chatter_site.lib.jobs import JobStatus
from chatter_site.lib.redis import redis_client
from tests.jobs.test_jobs import TEST_QUEUE, kind  # noqa: F401 (the fixture)


@pytest.mark.django_db
def test_it_lists_dead_letters_and_retries_them_from_admin(client, kind):  # noqa: F811
    dead = Job.objects.create(kind=kind.name, key="dead-one", status=JobStatus.DEAD, attempts=3, last_error="LLM down")
    Job.objects.create(kind=kind.name, key="done-one", status=JobStatus.DONE)
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "correct-horse-battery"))
    url = reverse("admin:jobs_job_changelist")

    page = client.get(url, {"status__exact": "dead"})

    assert page.status_code == 200
    body = page.content.decode()
    assert "dead-one" in body and "LLM down" in body and "done-one" not in body

    client.post(url, {"action": "retry", "_selected_action": [dead.pk]})

    dead.refresh_from_db()
    assert (dead.status, dead.attempts, dead.last_error) == (JobStatus.PENDING, 0, "")
    assert redis_client().llen(TEST_QUEUE) == 1
