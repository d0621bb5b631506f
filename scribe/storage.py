"""Versions in the "documents" storage (settings.STORAGES): S3 through django-storages, or files.

Keys are content-addressed per version, `scribe/<slug>/v000042-<sha256[:12]>.md`: an update redone
after a worker died writes its own object instead of overwriting the one a revision points at, and
writing the same text twice is a no-op.
"""
from __future__ import annotations

import hashlib
import logging
import time

from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages

from chatter_site.lib.errors import ChatterError, ErrorCode

logger = logging.getLogger("chatter.scribe")

STORAGE_ALIAS = "documents"


class StorageUnavailable(ChatterError):
    """The storage did not answer or refused: a transient failure the task retries."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


def documents_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def storage_warm_up() -> None:
    """Build the storage and its client (boto3 for S3, ~0.2 s) before the first update needs them."""
    started = time.perf_counter()
    try:
        storage = documents_storage()
        getattr(storage, "connection", None)  # S3Storage creates its boto3 resource lazily, per thread
        logger.info("scribe storage ready backend=%s seconds=%.3f", type(storage).__name__, time.perf_counter() - started)
    except Exception:
        logger.warning("scribe storage warm-up failed; the first update will try again", exc_info=True)


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def version_key(*, slug: str, version: int, sha256: str) -> str:
    return f"scribe/{slug}/v{version:06d}-{sha256[:12]}.md"


def version_write(*, slug: str, version: int, content: str) -> tuple[str, str]:
    """Store one version; returns (storage key, sha256). Raises StorageUnavailable."""
    sha256 = content_sha256(content)
    key = version_key(slug=slug, version=version, sha256=sha256)
    storage = documents_storage()
    try:
        if not storage.exists(key):
            saved = storage.save(key, ContentFile(content.encode("utf-8")))
            if saved != key:
                # FileSystemStorage renames on a race with an identical write; keep the name it used.
                key = saved
    except Exception as exc:
        logger.warning("scribe storage write failed key=%s error=%s", key, type(exc).__name__)
        raise StorageUnavailable(f"document storage unavailable ({type(exc).__name__})") from exc
    return key, sha256


def version_read(*, key: str, sha256: str | None = None) -> str:
    """A stored version's text, checked against its hash. Raises StorageUnavailable."""
    try:
        with documents_storage().open(key, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ChatterError(ErrorCode.NOT_FOUND, f"stored version {key} is missing") from None
    except Exception as exc:
        logger.warning("scribe storage read failed key=%s error=%s", key, type(exc).__name__)
        raise StorageUnavailable(f"document storage unavailable ({type(exc).__name__})") from exc
    if sha256 and hashlib.sha256(data).hexdigest() != sha256:
        raise ChatterError(ErrorCode.CORRUPT, f"stored version {key} does not match its hash")
    return data.decode("utf-8")


def version_delete(*, key: str) -> None:
    """Remove a stored version (a moderator's redaction; on a versioned S3 bucket this deletes the
    current object, and the bucket's own lifecycle rules decide about older object versions)."""
    try:
        documents_storage().delete(key)
    except Exception as exc:
        logger.warning("scribe storage delete failed key=%s error=%s", key, type(exc).__name__)
        raise StorageUnavailable(f"document storage unavailable ({type(exc).__name__})") from exc
