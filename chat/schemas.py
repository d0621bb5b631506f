"""The shared schemas of SPEC 4.2, validated at every boundary (WebSocket, API, tasks, streams).

Every producer builds these models and every consumer parses with them, so a schema change
breaks loudly at the boundary instead of somewhere downstream.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter, field_serializer

Origin = Literal["human", "bot", "system"]
HexColor = Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Author(_Schema):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    color: HexColor
    badges: list[Annotated[str, Field(max_length=32)]] = Field(default_factory=list, max_length=8)


class ChatMessage(_Schema):
    id: UUID
    seq: Annotated[int, Field(ge=1)]
    room: Annotated[str, Field(min_length=1, max_length=64)]
    origin: Origin
    author: Author
    text: Annotated[str, Field(max_length=500)]
    created_at: datetime
    mentions: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    reply_to: UUID | None = None
    client_id: Annotated[str, Field(max_length=64)] | None = None

    @field_serializer("created_at")
    def _iso_utc(self, value: datetime) -> str:
        return value.isoformat().replace("+00:00", "Z")


class MessageDraft(_Schema):
    """What a producer puts on chat.ingest: a message before the gateway gives it an id and seq."""

    room: Annotated[str, Field(min_length=1, max_length=64)]
    origin: Origin
    author: Author
    author_key: Annotated[str, Field(min_length=1, max_length=100)]
    text: Annotated[str, Field(max_length=20000)]
    reply_to: UUID | None = None
    client_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    correlation_id: str | None = None


class Segment(_Schema):
    start: float
    end: float
    text: str


class StreamEvent(_Schema):
    kind: Annotated[str, Field(min_length=1, max_length=32)]  # big_laugh | fail | clutch | chat_question | scene_change | …
    at: datetime
    confidence: Annotated[float, Field(ge=0, le=1)]
    evidence: str = ""


class StreamContext(_Schema):
    room: str
    seq: Annotated[int, Field(ge=0)]
    at: datetime
    window_seconds: Annotated[float, Field(gt=0)]
    transcript: str = ""
    segments: list[Segment] = Field(default_factory=list)
    events: list[StreamEvent] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)


class TermCount(_Schema):
    term: str
    count: Annotated[int, Field(ge=0)]


class TrendsSnapshot(_Schema):
    room: str
    at: datetime
    window_seconds: Annotated[float, Field(gt=0)]
    messages_per_minute: Annotated[float, Field(ge=0)]
    top_terms: list[TermCount] = Field(default_factory=list)
    emote_waves: list[str] = Field(default_factory=list)
    active_authors: Annotated[int, Field(ge=0)]
    bot_share: Annotated[float, Field(ge=0, le=1)]


# --- WebSocket frames, client to server ---------------------------------------------------------
class SendFrame(_Schema):
    type: Literal["send"]
    text: Annotated[str, Field(min_length=1)]
    client_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    reply_to: UUID | None = None


class ResumeFrame(_Schema):
    type: Literal["resume"]
    # Bounded to a BIGINT: beyond it SQLite raises OverflowError instead of an `invalid` frame.
    after_seq: Annotated[int, Field(ge=0, le=2**63 - 1)]


class PingFrame(_Schema):
    type: Literal["ping"]


ClientFrame = Annotated[Union[SendFrame, ResumeFrame, PingFrame], Field(discriminator="type")]
client_frame_adapter: TypeAdapter[SendFrame | ResumeFrame | PingFrame] = TypeAdapter(ClientFrame)


# --- moderation (SPEC 11): the body of POST /api/rooms/<slug>/moderation ------------------------
MAX_TIMEOUT_SECONDS = 14 * 24 * 3600
MAX_SLOW_SECONDS = 3600
Reason = Annotated[str, Field(max_length=500)]
UserName = Annotated[str, Field(min_length=1, max_length=150)]


class DeleteAction(_Schema):
    action: Literal["delete"]
    seq: Annotated[int, Field(ge=1)]
    reason: Reason = ""


class TimeoutAction(_Schema):
    action: Literal["timeout"]
    user: UserName
    seconds: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)]
    reason: Reason = ""


class BanAction(_Schema):
    action: Literal["ban", "unban"]
    user: UserName
    reason: Reason = ""


class ClearAction(_Schema):
    action: Literal["clear"]
    reason: Reason = ""


class ModeAction(_Schema):
    action: Literal["mode"]
    slow_seconds: Annotated[int, Field(ge=0, le=MAX_SLOW_SECONDS)] | None = None
    emote_only: StrictBool | None = None
    reason: Reason = ""


ModerationRequest = Annotated[
    Union[DeleteAction, TimeoutAction, BanAction, ClearAction, ModeAction], Field(discriminator="action")
]
moderation_request_adapter: TypeAdapter = TypeAdapter(ModerationRequest)


class ReportRequest(_Schema):
    seq: Annotated[int, Field(ge=1)]
    reason: Literal["spam", "harassment", "hate", "personal_data", "other"] = "other"
    note: Reason = ""
