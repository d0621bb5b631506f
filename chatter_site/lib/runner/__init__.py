"""The engine of `manage.py runchatter`: one command that runs the whole system.

It prepares the database (migrate, demo seed on an empty database), starts the embedded Redis when
`REDIS_URL` is unset, the offline LLM provider when neither OPENAI_API_KEY nor OPENAI_BASE_URL is
set and a Chroma server for memories (Mem0's vector store) when CHATTER_VECTOR_STORE is unset,
then Daphne, a Celery worker and Celery beat as child processes, writes each one's output to
var/log/<child>.log (the console shows a banner, notable events and a status line a minute;
--verbose every line as well), and supervises them: an app process that dies (web, worker, beat, stream) is
started again, a few times at most; an embedded service that dies, or an app process in a crash
loop, takes the whole system down loudly rather than leaving a half-working chat. Ctrl-C (or SIGTERM) stops everything in
reverse order and leaves no processes and no stale runtime files behind.

The embedded services are real services on the same code path as production (STYLE.md, Settings):
the runner records their addresses in the runtime directory so any other `manage.py` command from
the same checkout finds them (chatter_site.lib.runtime).

The runner never changes its own settings: the children learn the embedded services' addresses
from the environment it gives them (environment), and the migrations and the demo seed run as
children too.

Modules: console (the one writer for all output, the log files), children (starting, signalling
and describing supervised processes; the client of watchdog, which stops every child's process
group should the runner die), monitor (outages and the status line), embedded (ports, health
probes, the Redis and Chroma command lines), services (starting the embedded services), environment
(the children's environment), commands (the app processes' command lines), banner (what the
console says once healthy), runner (RunOptions, the Runner and run_chatter).
"""
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
