"""The scribe's pages and JSON API (SPEC 4.4). Thin: parse, check permission, call one service, render."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pydantic import BaseModel

from chatter_site.lib.api import api_errors, body_parse, json_body
from chatter_site.lib.errors import ChatterError, ErrorCode, schema_validate
from scribe import forms, selectors, services
from scribe.models import ScribeDocument
from scribe.rendering import render_markdown
from scribe.schemas import EditRequest, RedactRequest, RestoreRequest, StartRequest, ToggleRequest

MAX_JSON_BYTES = 256 * 1024
Body = TypeVar("Body", bound=BaseModel)


def _require(request: HttpRequest, check: Callable[..., bool], action: str) -> None:
    if not check(user=request.user):
        who = "you" if request.user.is_authenticated else "anonymous viewers"
        raise ChatterError(ErrorCode.FORBIDDEN, f"{who} may not {action}: it needs staff or the scribe permission")


def _document_write(
    request: HttpRequest, document_id: int, schema: type[Body], *, check: Callable[..., bool], action: str
) -> tuple[int, Body]:
    """What every write on a document starts with: permission, a JSON body, the document, the fields."""
    _require(request, check, action)
    data = json_body(request, max_bytes=MAX_JSON_BYTES, empty={})
    pk = selectors.document_get(key=document_id).pk
    return pk, schema_validate(schema, data)


def _document_answer(document: ScribeDocument) -> JsonResponse:
    # Read again: the answer shows the document as it is after the write, whoever else wrote since.
    return JsonResponse(selectors.document_payload(selectors.document_get(key=document.pk)))


# --- JSON API -------------------------------------------------------------------------------------
@require_POST
@api_errors
def api_start(request: HttpRequest) -> JsonResponse:
    _require(request, selectors.user_can_run_scribe, "start a scribe")
    body = body_parse(request, StartRequest, max_bytes=MAX_JSON_BYTES, empty={})
    document = services.document_start(room_slug=body.room, title=body.title, style=body.style, user=request.user)
    return JsonResponse(selectors.document_payload(document), status=201)


@require_GET
@api_errors
def api_document(request: HttpRequest, document_id: int) -> JsonResponse:
    return JsonResponse(selectors.document_payload(selectors.document_get(key=document_id)))


@require_POST
@api_errors
def api_toggle(request: HttpRequest, document_id: int) -> JsonResponse:
    pk, body = _document_write(
        request, document_id, ToggleRequest, check=selectors.user_can_run_scribe, action="start or stop a scribe"
    )
    document = services.document_toggle(document_id=pk, enabled=body.enabled, catch_up=body.catch_up, user=request.user)
    return _document_answer(document)


@require_POST
@api_errors
def api_edit(request: HttpRequest, document_id: int) -> JsonResponse:
    pk, body = _document_write(
        request, document_id, EditRequest, check=selectors.user_can_edit_scribe, action="edit a scribe document"
    )
    document = services.document_edit(
        document_id=pk, content=body.content, base_version=body.base_version, user=request.user
    )
    return _document_answer(document)


@require_POST
@api_errors
def api_redact(request: HttpRequest, document_id: int) -> JsonResponse:
    pk, body = _document_write(
        request, document_id, RedactRequest, check=selectors.user_can_edit_scribe, action="redact a scribe version"
    )
    revision = services.revision_redact(document_id=pk, version=body.version, reason=body.reason, user=request.user)
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
    pk, body = _document_write(
        request, document_id, RestoreRequest, check=selectors.user_can_edit_scribe, action="restore a version"
    )
    document = services.document_restore(
        document_id=pk, version=body.version, base_version=body.base_version, user=request.user
    )
    return _document_answer(document)


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
                ErrorCode.NOT_FOUND: "Not found", ErrorCode.FORBIDDEN: "Not allowed",
                ErrorCode.UNAVAILABLE: "Try again shortly", ErrorCode.GONE: "Removed by a moderator",
            }
            title = titles.get(error.code, "Something is wrong")
            return _message_page(request, title=title, message=error.message, status=error.http_status)

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
            if error.code not in (ErrorCode.INVALID, ErrorCode.NOT_FOUND):
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
        raise ChatterError(ErrorCode.INVALID, "choose start or stop")
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
                if error.code not in (ErrorCode.STALE, ErrorCode.INVALID, ErrorCode.TOO_LARGE):
                    raise
                form.add_error(None, error.message)
                status = error.http_status
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
        raise ChatterError(ErrorCode.INVALID, "the form is missing the version it was based on")
    try:
        services.document_restore(
            document_id=document.pk, version=version, base_version=form.cleaned_data["base_version"], user=request.user
        )
    except ChatterError as error:
        if error.code != ErrorCode.STALE:
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
