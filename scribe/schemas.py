"""The bodies of the scribe's JSON API (SPEC 4.4), checked at the view before any service runs."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from scribe.models import ScribeDocument


def _no_nul(value: str) -> str:
    # As Django's forms do: PostgreSQL cannot store or compare text with NUL in it (a 500).
    if "\x00" in value:
        raise PydanticCustomError("nul", "must not contain NUL characters")
    return value


Text = Annotated[StrictStr, AfterValidator(_no_nul)]


class _Request(BaseModel):
    # Unknown keys are ignored, as they always were.
    model_config = ConfigDict(extra="ignore", frozen=True)


class StartRequest(_Request):
    room: Text
    title: Text
    style: Text = str(ScribeDocument.Style.LITERARY)  # its value, "literary"


class ToggleRequest(_Request):
    enabled: StrictBool
    catch_up: StrictBool = True


class EditRequest(_Request):
    content: Text
    base_version: StrictInt


class RedactRequest(_Request):
    version: StrictInt
    reason: Text = ""


class RestoreRequest(_Request):
    version: StrictInt
    # Absent means "no check"; an explicit null is refused (defaults are not validated).
    base_version: StrictInt = Field(default=None)  # type: ignore[assignment]
