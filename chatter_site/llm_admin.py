"""The admin's LLM page (/admin/llm/): where calls go, what each purpose got from the model, which
JSON format each endpoint was found to accept, and the latest failures. Staff only."""
from __future__ import annotations

from datetime import datetime, timezone

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from chatter_site.lib.errors import ChatterError
from chatter_site.lib.llm import (
    llm_embed_endpoint,
    llm_endpoint,
    llm_failures_recent,
    llm_json_formats_forget,
    llm_json_formats_known,
)
from chatter_site.lib.llm_report import counts_text, llm_usage
from chatter_site.lib.metrics import render_latest


def llm_status_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if not request.user.is_superuser:
            messages.error(request, "Only a superuser may reset what is known about the endpoints.")
        else:
            llm_json_formats_forget()
            messages.success(request, "Every endpoint will be asked for structured outputs again.")
        return HttpResponseRedirect(reverse("admin-llm"))
    try:
        chat, embed = llm_endpoint(), llm_embed_endpoint()
        endpoints = {"chat": chat.base_url, "embeddings": embed.base_url, "offline": chat.offline}
    except ChatterError as error:
        endpoints = {"error": error.message}
    usage = [
        {
            "purpose": row.purpose,
            "calls": row.calls,
            "ok": row.ok,
            "failures": counts_text(row.failures),
            "requests": row.requests,
            "fallbacks": counts_text(row.fallbacks),
            "formats": counts_text(row.formats),
            "refused": counts_text(row.refused),
            "usable": row.usable,
            "share": f"{row.usable_share:.0%}" if row.usable_share is not None else "–",
        }
        for row in llm_usage(render_latest().decode()).values()
    ]
    failures = [
        {**item, "when": datetime.fromtimestamp(item.get("at", 0), tz=timezone.utc)} for item in llm_failures_recent(limit=50)
    ]
    formats = [
        {"endpoint": key, "format": value.get("format"), "when": datetime.fromtimestamp(value.get("at", 0), tz=timezone.utc)}
        for key, value in sorted(llm_json_formats_known().items())
    ]
    context = {
        **admin.site.each_context(request),
        "title": "LLM calls",
        "endpoints": endpoints,
        "model": settings.CHATTER_LLM_MODEL,
        "embed_model": settings.CHATTER_EMBED_MODEL,
        "embed_dims": settings.CHATTER_EMBED_DIMS,
        "usage": usage,
        "failures": failures,
        "formats": formats,
    }
    return TemplateResponse(request, "admin/llm_status.html", context)


def llm_admin_urls() -> list:
    """Mounted before admin.site.urls, behind the admin's own staff check."""
    return [path("admin/llm/", admin.site.admin_view(llm_status_view), name="admin-llm")]
