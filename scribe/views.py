"""The scribe's pages and JSON API (SPEC 4.4). Thin: parse, check permission, call one service, render."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chatter_site.lib.errors import ChatterError
from chatter_site.lib.untrusted_json import json_loads_untrusted
from scribe import forms, selectors, services
from scribe.models import ScribeDocument
from scribe.rendering import render_markdown

MAX_JSON_BYTES = 256 * 1024
# "stale" is the scribe's own code (an edit based on an old version): HTTP calls that a conflict.
STATUS_BY_CODE = {"stale": 409, "corrupt": 500}


def _status(error: ChatterError) -> int:
    return STATUS_BY_CODE.get(error.code, error.http_status)


def api_errors(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ChatterError as error:
            return JsonResponse({"error": {"code": error.code, "detail": error.message}}, status=_status(error))

    return wrapper


def _require(request: HttpRequest, check: Callable[..., bool], action: str) -> None:
    if not check(user=request.user):
        who = "you" if request.user.is_authenticated else "anonymous viewers"
        raise ChatterError("forbidden", f"{who} may not {action}: it needs staff or the scribe permission")


def _json_body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_JSON_BYTES:
        raise ChatterError("too_large", f"request body over {MAX_JSON_BYTES} bytes")
    try:
        data = json_loads_untrusted(request.body or b"{}")
    except ValueError:
        raise ChatterError("invalid", "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ChatterError("invalid", "the body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, default: Any = ...) -> Any:
    if name not in data:
        if default is ...:
            raise ChatterError("invalid", f"{name}: required")
        return default
    value = data[name]
    # bool is an int in Python: a version of `true` is not a version.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ChatterError("invalid", f"{name}: must be {names}")
    if isinstance(value, str) and "\x00" in value:
        # As Django's forms do: PostgreSQL cannot store or compare text with NUL in it (a 500).
        raise ChatterError("invalid", f"{name}: must not contain NUL characters")
    return value


# --- JSON API -------------------------------------------------------------------------------------
@require_POST
@api_errors
def api_start(request: HttpRequest) -> JsonResponse:
    _require(request, selectors.user_can_run_scribe, "start a scribe")
    data = _json_body(request)
    document = services.document_start(
        room_slug=_field(data, "room", str),
        title=_field(data, "title", str),
        style=_field(data, "style", str, default=ScribeDocument.Style.LITERARY),
        user=request.user,
    )
    return JsonResponse(selectors.document_payload(document), status=201)


@require_GET
@api_errors
def api_document(request: HttpRequest, document_id: int) -> JsonResponse:
    return JsonResponse(selectors.document_payload(selectors.document_get(key=document_id)))


@require_POST
@api_errors
def api_toggle(request: HttpRequest, document_id: int) -> JsonResponse:
    _require(request, selectors.user_can_run_scribe, "start or stop a scribe")
    data = _json_body(request)
    document = services.document_toggle(
        document_id=selectors.document_get(key=document_id).pk,
        enabled=_field(data, "enabled", bool),
        catch_up=_field(data, "catch_up", bool, default=True),
        user=request.user,
    )
    return JsonResponse(selectors.document_payload(selectors.document_get(key=document.pk)))


@require_POST
@api_errors
def api_edit(request: HttpRequest, document_id: int) -> JsonResponse:
    _require(request, selectors.user_can_edit_scribe, "edit a scribe document")
    data = _json_body(request)
    document = services.document_edit(
        document_id=selectors.document_get(key=document_id).pk,
        content=_field(data, "content", str),
        base_version=_field(data, "base_version", int),
        user=request.user,
    )
    return JsonResponse(selectors.document_payload(selectors.document_get(key=document.pk)))


@require_POST
@api_errors
def api_redact(request: HttpRequest, document_id: int) -> JsonResponse:
    _require(request, selectors.user_can_edit_scribe, "redact a scribe version")
    data = _json_body(request)
    revision = services.revision_redact(
        document_id=selectors.document_get(key=document_id).pk,
        version=_field(data, "version", int),
        reason=_field(data, "reason", str, default=""),
        user=request.user,
    )
    return JsonResponse(selectors.revision_payload(revision, for_staff=True))


@require_GET
@api_errors
def api_revisions(request: HttpRequest, document_id: int) -> JsonResponse:
    document = selectors.document_get(key=document_id)
    staff = request.user.is_staff
    revisions = selectors.revisions_list(document=document)
    return JsonResponse([selectors.revision_payload(r, for_staff=staff) for r in revisions], safe=False)


@require_GET
@api_errors
def api_revision(request: HttpRequest, document_id: int, version: int) -> JsonResponse:
    revision = selectors.revision_get(document=selectors.document_get(key=document_id), version=version)
    content = selectors.revision_content(revision=revision)
    return JsonResponse(selectors.revision_payload(revision, content=content, for_staff=request.user.is_staff))


@require_POST
@api_errors
def api_restore(request: HttpRequest, document_id: int) -> JsonResponse:
    _require(request, selectors.user_can_edit_scribe, "restore a version")
    data = _json_body(request)
    document = services.document_restore(
        document_id=selectors.document_get(key=document_id).pk,
        version=_field(data, "version", int),
        base_version=_field(data, "base_version", int, default=None),
        user=request.user,
    )
    return JsonResponse(selectors.document_payload(selectors.document_get(key=document.pk)))


# --- pages ----------------------------------------------------------------------------------------
def _message_page(request: HttpRequest, *, title: str, message: str, status: int) -> HttpResponse:
    return render(request, "scribe/message.html", {"title": title, "message": message}, status=status)


def page_errors(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ChatterError as error:
            titles = {
                "not_found": "Not found", "forbidden": "Not allowed", "unavailable": "Try again shortly",
                "gone": "Removed by a moderator",
            }
            return _message_page(request, title=titles.get(error.code, "Something is wrong"), message=error.message, status=_status(error))

    return wrapper


def _document_url(document: ScribeDocument) -> str:
    return reverse("scribe-document", kwargs={"key": document.slug})


@require_GET
@page_errors
def document_page(request: HttpRequest, key: str) -> HttpResponse:
    document = selectors.document_get(key=key)
    payload = selectors.document_payload(document)
    return render(
        request,
        "scribe/document.html",
        {
            "document": document,
            "payload": payload,
            "html": render_markdown(document.content),
            "revisions": selectors.revisions_list(document=document, limit=50),
            "can_run": selectors.user_can_run_scribe(user=request.user),
            "can_edit": selectors.user_can_edit_scribe(user=request.user),
            "toggle_form": forms.ToggleForm(),
            "bootstrap": {"id": document.pk, "version": document.version, "slug": document.slug},
        },
    )


@require_http_methods(["GET", "POST"])
@page_errors
def start_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    _require(request, selectors.user_can_run_scribe, "start a scribe")
    form = forms.StartForm(request.POST or None, initial={"room": request.GET.get("room", "")})
    if request.method == "POST" and form.is_valid():
        try:
            document = services.document_start(
                room_slug=form.cleaned_data["room"],
                title=form.cleaned_data["title"],
                style=form.cleaned_data["style"],
                user=request.user,
            )
        except ChatterError as error:
            if error.code not in ("invalid", "not_found"):
                raise
            form.add_error(None, error.message)
        else:
            return redirect(_document_url(document))
    status = 400 if request.method == "POST" else 200
    return render(request, "scribe/start.html", {"form": form}, status=status)


@require_POST
@page_errors
def toggle_page(request: HttpRequest, key: str) -> HttpResponse:
    _require(request, selectors.user_can_run_scribe, "start or stop a scribe")
    document = selectors.document_get(key=key)
    form = forms.ToggleForm(request.POST)
    if not form.is_valid():
        raise ChatterError("invalid", "choose start or stop")
    services.document_toggle(
        document_id=document.pk, enabled=form.cleaned_data["enabled"], catch_up=form.cleaned_data["catch_up"], user=request.user
    )
    return redirect(_document_url(document))


@require_http_methods(["GET", "POST"])
@page_errors
def edit_page(request: HttpRequest, key: str) -> HttpResponse:
    _require(request, selectors.user_can_edit_scribe, "edit a scribe document")
    document = selectors.document_get(key=key)
    form = forms.EditForm(request.POST or None, initial={"content": document.content, "base_version": document.version})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.document_edit(
                    document_id=document.pk,
                    content=form.cleaned_data["content"],
                    base_version=form.cleaned_data["base_version"],
                    user=request.user,
                )
            except ChatterError as error:
                if error.code not in ("stale", "invalid", "too_large"):
                    raise
                form.add_error(None, error.message)
                status = _status(error)
                document.refresh_from_db()
            else:
                return redirect(_document_url(document))
    return render(request, "scribe/edit.html", {"document": document, "form": form}, status=status)


@require_GET
@page_errors
def revision_page(request: HttpRequest, key: str, version: int) -> HttpResponse:
    document = selectors.document_get(key=key)
    revision = selectors.revision_get(document=document, version=version)
    content = selectors.revision_content(revision=revision)
    return render(
        request,
        "scribe/revision.html",
        {
            "document": document,
            "revision": revision,
            "html": render_markdown(content),
            "can_edit": selectors.user_can_edit_scribe(user=request.user),
            "restore_form": forms.RestoreForm(initial={"base_version": document.version}),
        },
    )


@require_POST
@page_errors
def redact_page(request: HttpRequest, key: str, version: int) -> HttpResponse:
    _require(request, selectors.user_can_edit_scribe, "redact a scribe version")
    document = selectors.document_get(key=key)
    reason = (request.POST.get("reason") or "").strip()
    services.revision_redact(document_id=document.pk, version=version, reason=reason, user=request.user)
    return redirect(_document_url(document))


@require_POST
@page_errors
def restore_page(request: HttpRequest, key: str, version: int) -> HttpResponse:
    _require(request, selectors.user_can_edit_scribe, "restore a version")
    document = selectors.document_get(key=key)
    form = forms.RestoreForm(request.POST)
    if not form.is_valid():
        raise ChatterError("invalid", "the form is missing the version it was based on")
    try:
        services.document_restore(
            document_id=document.pk, version=version, base_version=form.cleaned_data["base_version"], user=request.user
        )
    except ChatterError as error:
        if error.code != "stale":
            raise
        revision = selectors.revision_get(document=document, version=version)
        document.refresh_from_db()
        return render(
            request,
            "scribe/revision.html",
            {
                "document": document,
                "revision": revision,
                "html": render_markdown(selectors.revision_content(revision=revision)),
                "can_edit": True,
                "restore_form": forms.RestoreForm(initial={"base_version": document.version}),
                "error": error.message,
            },
            status=409,
        )
    return redirect(_document_url(document))
