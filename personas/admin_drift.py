"""Admin for drift under review (SPEC 6.2), and the personas' "reflect now" action.

Registered on import (personas/admin.py imports this module). `persona_reflect_now_action` is a
plain admin action for the persona list: add it to PersonaAdmin.actions.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from chatter_site.lib.errors import ChatterError
from personas.drift import KNOBS, drift_decide, persona_reflect_now
from personas.models import DriftProposal, Persona

KNOB_LABELS = {"chattiness_delta": "chattiness", "hype_delta": "hype", "bot_affinity_delta": "bot affinity"}
REASON_EXCERPT = 120


@admin.action(permissions=["change"], description="Reflect now on what selected personas witnessed (moderator priority)")
def persona_reflect_now_action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Persona]) -> None:
    total = 0
    for persona in queryset.order_by("handle"):
        try:
            jobs = persona_reflect_now(persona=persona)
        except ChatterError as error:
            modeladmin.message_user(request, f"{persona.handle}: {error.message}", messages.ERROR)
            continue
        total += len(jobs)
        if not jobs:
            modeladmin.message_user(request, f"{persona.handle}: nothing new to reflect on.", messages.INFO)
    if total:
        modeladmin.message_user(request, f"{total} reflection job(s) queued at moderator priority.")


@admin.register(DriftProposal)
class DriftProposalAdmin(admin.ModelAdmin):
    list_display = ("persona", "status", "change", "clamped", "reason_short", "created_at", "decided_by")
    list_filter = ("status", "clamped", ("persona", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("persona", "decided_by")
    search_fields = ("persona__handle", "reason", "mood")
    ordering = ("-created_at",)
    actions = ("approve", "reject")
    fields = (
        "persona", "status", "change", "reason", "clamped", "raw", "created_at", "decided_at", "decided_by",
        "checkpointed_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # only the slow loop proposes

    @admin.display(description="proposed change")
    def change(self, proposal: DriftProposal) -> str:
        rows = [("mood", proposal.from_mood, proposal.mood)] + [
            (KNOB_LABELS[name], f"{getattr(proposal, f'from_{name}'):+.3f}", f"{getattr(proposal, name):+.3f}")
            for name in KNOBS
        ]
        return format_html_join(" · ", "{}: {} → <b>{}</b>", rows)

    @admin.display(description="reason")
    def reason_short(self, proposal: DriftProposal) -> str:
        if len(proposal.reason) <= REASON_EXCERPT:
            return proposal.reason
        return format_html('<span title="{}">{}…</span>', proposal.reason, proposal.reason[: REASON_EXCERPT - 1])

    def _decide(self, request: HttpRequest, queryset: QuerySet[DriftProposal], *, approve: bool) -> None:
        done = 0
        for proposal_id in queryset.values_list("pk", flat=True):
            try:
                drift_decide(proposal_id=proposal_id, approve=approve, user=request.user)
            except ChatterError as error:
                self.message_user(request, f"Proposal {proposal_id}: {error.message}", messages.WARNING)
            else:
                done += 1
        verb = "approved and applied" if approve else "rejected"
        self.message_user(request, f"{done} drift proposal(s) {verb}.")

    @admin.action(permissions=["change"], description="Approve selected proposals (apply the drift)")
    def approve(self, request: HttpRequest, queryset: QuerySet[DriftProposal]) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(permissions=["change"], description="Reject selected proposals (drift stays as it is)")
    def reject(self, request: HttpRequest, queryset: QuerySet[DriftProposal]) -> None:
        self._decide(request, queryset, approve=False)
