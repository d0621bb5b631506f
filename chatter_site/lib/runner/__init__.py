"""The engine of `manage.py runchatter`: one command that runs the whole system.

How it works: docs/architecture.md, "Inside the parts" › chatter_site/lib/runner."""
from chatter_site.lib.runner.children import Child, Watchdog, describe_exit, signal_group, start_child
from chatter_site.lib.runner.console import Console, LogFiles, Output
from chatter_site.lib.runner.embedded import (
    browser_host,
    check_port_free,
    chroma_answers,
    chroma_command,
    free_port,
    health_status,
    redis_answers,
    redis_executable,
)
from chatter_site.lib.runner.monitor import Monitor
from chatter_site.lib.runner.runner import Runner, RunOptions, StopRequest, run_chatter

__all__ = [
    "Child",
    "Console",
    "LogFiles",
    "Monitor",
    "Output",
    "RunOptions",
    "Runner",
    "StopRequest",
    "Watchdog",
    "browser_host",
    "check_port_free",
    "chroma_answers",
    "chroma_command",
    "describe_exit",
    "free_port",
    "health_status",
    "redis_answers",
    "redis_executable",
    "run_chatter",
    "signal_group",
    "start_child",
]
