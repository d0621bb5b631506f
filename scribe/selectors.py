"""Reads for the scribe."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import F

from chatter_site.lib.errors import ChatterError, ErrorCode
from scribe.models import ScribeDocument, ScribeRevision
from scribe.rendering import render_markdown
from scribe.storage import version_read

RUN_PERMISSION = "scribe.add_scribedocument"
EDIT_PERMISSION = "scribe.change_scribedocument"


# --- who may do what ------------------------------------------------------------------------------
def user_can_run_scribe(*, user) -> bool:
    """Start and stop scribes: a user granted "Can add scribe document" (superusers have it)."""
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(RUN_PERMISSION))


def user_can_edit_scribe(*, user) -> bool:
    """Edit, restore and redact versions (moderators): "Can change scribe document" (superusers
    have it). Being staff alone is not enough: staff rights are the permissions they were given."""
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(EDIT_PERMISSION))


# --- documents --------------------------------------------------------------------------------------
def document_get(*, key: int | str) -> ScribeDocument:
    """By id (an integer or a string of digits) or by slug."""
    text = str(key)
    if "\x00" in text:  # from a URL; PostgreSQL refuses to compare text with NUL in it
        raise ChatterError(ErrorCode.NOT_FOUND, f"no scribe document {key!r}")
    # isascii: "²" and other Unicode digits pass isdigit() but not int().
    lookup = {"pk": int(text)} if text.isascii() and text.isdigit() else {"slug": text}
    document = ScribeDocument.objects.select_related("room").filter(**lookup).first()
    if document is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"no scribe document {key!r}")
    return document


def document_payload(document: ScribeDocument) -> dict[str, Any]:
    """The API's and the live page's view of a document (GET /api/scribe/<id>, `document` frames)."""
    return {
        "id": document.pk,
        "slug": document.slug,
        "title": document.title,
        "style": document.style,
        "room": document.room.slug,
        "content": document.content,
        "html": str(render_markdown(document.content)),
        "version": document.version,
        "updated_at": document.updated_at.isoformat().replace("+00:00", "Z"),
        "enabled": document.enabled,
        "cursor_seq": document.cursor_seq,
        "status": document.status,
        "last_error": document.last_error,
        "last_error_at": document.last_error_at.isoformat().replace("+00:00", "Z") if document.last_error_at else None,
    }


def documents_for_room(*, room_id: int) -> list[ScribeDocument]:
    return list(ScribeDocument.objects.filter(room_id=room_id).order_by("-enabled", "-updated_at"))


def enabled_documents_by_room() -> dict[str, list[int]]:
    """Every enabled document id by room slug: the source the trigger index is rebuilt from."""
    by_room: dict[str, list[int]] = defaultdict(list)
    for document_id, slug in ScribeDocument.objects.filter(enabled=True).values_list("pk", "room__slug"):
        by_room[slug].append(document_id)
    return dict(by_room)


def documents_behind() -> list[int]:
    """Enabled documents whose room has messages past their cursor."""
    return list(
        ScribeDocument.objects.filter(enabled=True, cursor_seq__lt=F("room__last_seq")).values_list("pk", flat=True)
    )


# --- revisions --------------------------------------------------------------------------------------
def revisions_list(*, document: ScribeDocument, limit: int = 100) -> list[ScribeRevision]:
    return list(document.revisions.select_related("created_by").order_by("-version")[:limit])


def revision_get(*, document: ScribeDocument, version: int) -> ScribeRevision:
    revision = document.revisions.filter(version=version).first()
    if revision is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"{document.slug} has no version {version}")
    return revision


def revision_content(*, revision: ScribeRevision) -> str:
    if revision.redacted_at is not None:
        raise ChatterError(ErrorCode.GONE, f"version {revision.version} was removed by a moderator")
    return version_read(key=revision.storage_key, sha256=revision.sha256)


def revision_author(revision: ScribeRevision, *, for_staff: bool) -> str | None:
    """Who made a moderator's revision: their name for staff, "moderator" for the public (staff
    names are what a password guesser needs first)."""
    if not revision.created_by_id:
        return None
    return revision.created_by.get_username() if for_staff else "moderator"


def revision_payload(revision: ScribeRevision, *, content: str | None = None, for_staff: bool = False) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "version": revision.version,
        "kind": revision.kind,
        "storage_key": revision.storage_key,
        "sha256": revision.sha256,
        "size": revision.size,
        "first_seq": revision.first_seq,
        "last_seq": revision.last_seq,
        "turns": revision.turns,
        "restored_from": revision.restored_from,
        "correlation_id": revision.correlation_id,
        "created_by": revision_author(revision, for_staff=for_staff),
        "redacted": revision.redacted_at is not None,
        "created_at": revision.created_at.isoformat().replace("+00:00", "Z"),
    }
    if content is not None:
        payload["content"] = content
    return payload
