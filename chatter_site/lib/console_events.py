"""Notable events for the person watching `runchatter`: one line each on its console.

A child process logs an event to the `chatter.events` logger; settings.LOGGING writes that logger
alone as `chatter-event: <message>` on stderr, which the runner shows on its console (everything
else a child prints goes only to var/log/<child>.log). Outside the runner the same line is simply
part of the process's log. Keep events rare: a source started or yielded, a dead letter — not
per-message or per-task lines.
"""
from __future__ import annotations

import logging

EVENT_MARK = "chatter-event: "
EVENT_LOGGER = "chatter.events"

_logger = logging.getLogger(EVENT_LOGGER)


def console_event(message: str, *args: object) -> None:
    """Log one notable event (%-style arguments, as logging's)."""
    _logger.warning(message, *args)
