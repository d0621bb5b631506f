"""What the LLM layer's metrics say per purpose: calls, failures by kind, format fallbacks, answers
the callers refused, and the share that gave a usable result. Read by the admin's LLM page (this
process's view of the Prometheus registry, aggregated over processes under the runner) and by
bench/real_model.py (a scrape of /metrics)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

FAILURE_KINDS = ("timeout", "error", "invalid", "busy", "unavailable", "crash")


@dataclass
class PurposeUsage:
    purpose: str
    calls: int = 0  # llm_chat / llm_json / llm_embed calls, whatever each took
    ok: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # final result -> count
    requests: int = 0  # HTTP requests, retries and re-asks included
    fallbacks: dict[str, int] = field(default_factory=dict)  # "json_schema→json_object (http_500)" -> count
    formats: dict[str, int] = field(default_factory=dict)  # "json_object" or "json_object, repaired" -> answers
    refused: dict[str, int] = field(default_factory=dict)  # reason -> answers the caller refused

    @property
    def usable(self) -> int:
        return max(0, self.ok - sum(self.refused.values()))

    @property
    def usable_share(self) -> float | None:
        return self.usable / self.calls if self.calls else None


def llm_usage(metrics_text: str) -> dict[str, PurposeUsage]:
    """Per purpose, from Prometheus text (the runner's /metrics, or generate_latest())."""
    rows: dict[str, PurposeUsage] = defaultdict(lambda: PurposeUsage(purpose=""))

    def row(purpose: str) -> PurposeUsage:
        usage = rows[purpose]
        usage.purpose = purpose
        return usage

    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            labels, value = sample.labels, int(sample.value)
            purpose = labels.get("purpose")
            if not purpose or not value:
                continue
            if sample.name == "chatter_llm_results_total":
                usage = row(purpose)
                usage.calls += value
                if labels.get("result") == "ok":
                    usage.ok += value
                else:
                    kind = labels.get("result", "error")
                    usage.failures[kind] = usage.failures.get(kind, 0) + value
            elif sample.name == "chatter_llm_calls_total" and labels.get("outcome") != "busy":
                row(purpose).requests += value
            elif sample.name == "chatter_llm_format_fallbacks_total":
                key = f"{labels.get('from_format')}→{labels.get('to_format')} ({labels.get('reason')})"
                usage = row(purpose)
                usage.fallbacks[key] = usage.fallbacks.get(key, 0) + value
            elif sample.name == "chatter_llm_json_answers_total":
                key = labels.get("format", "?") + (", repaired" if labels.get("repaired") == "true" else "")
                usage = row(purpose)
                usage.formats[key] = usage.formats.get(key, 0) + value
            elif sample.name == "chatter_llm_answers_refused_total":
                usage = row(purpose)
                reason = labels.get("reason", "?")
                usage.refused[reason] = usage.refused.get(reason, 0) + value
    return dict(sorted(rows.items()))


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items(), key=lambda item: -item[1])) or "–"
