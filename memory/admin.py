"""Moderator screens for memory: each concern registers its own models."""
from memory import admin_batch, admin_items, admin_jobs  # noqa: F401  (they register on import)
