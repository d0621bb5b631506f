"""Moderator screens for memory: each module registers its models on import (docs/architecture.md,
"Memory")."""
from memory.admin import items, jobs, narratives  # noqa: F401  (they register on import)
