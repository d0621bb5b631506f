"""Persona worker telemetry: decisions and their reasons, posts per persona, generation outcomes."""
from chatter_site.lib.metrics import counter, histogram

DECISIONS = counter("chatter_persona_decisions_total", "Fast-loop decisions", ("persona", "outcome"))
REASONS = counter("chatter_persona_policy_reasons_total", "Policy factors applied", ("reason",))
POSTS = counter("chatter_persona_posts_total", "Lines posted", ("persona", "room"))
GENERATIONS = counter("chatter_persona_generations_total", "Generation attempts by outcome", ("outcome",))
GENERATION_SECONDS = histogram("chatter_persona_generation_seconds", "Decision to posted line")
