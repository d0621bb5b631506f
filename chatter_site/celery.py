"""The Celery app. Queues, routes and the beat schedule live in settings (one visible place)."""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatter_site.settings")

app = Celery("chatter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
