"""`make run`'s process manager: honcho running Procfile.dev (web, Celery worker, Celery beat) in one terminal.

Two changes from plain `honcho start`:
- the processes stay in the caller's session and process group (honcho starts each in a new session by
  default), so Ctrl-C in the terminal and a `kill` of the group reach all of them, and none outlives `make run`;
- honcho waits STOP_GRACE_SECONDS (default 20, not 5) before SIGKILL, so the worker finishes its current task;
- SITE_URL (the base of links in emails: surveys, unsubscribe, escalations) follows the port the web process
  serves on (`PORT=8100 make run`) unless it is set. Honcho gives each process its own PORT (web 8000, worker
  8100, beat 8200), so the settings cannot derive it from PORT: the worker that sends the emails would say 8100.

Usage: python -m config.devrun [honcho start arguments]
"""

import os
import sys

import honcho.command
import honcho.manager
import honcho.process

_honcho_popen_init = honcho.process.Popen.__init__


def _same_session_init(self, cmd, **kwargs):
    kwargs["start_new_session"] = False
    _honcho_popen_init(self, cmd, **kwargs)


def site_url(args: list[str], environ: dict) -> str:
    """SITE_URL for every process: as set, else http://127.0.0.1:<the web port> (honcho's -p/--port, or PORT)."""
    if environ.get("SITE_URL"):
        return environ["SITE_URL"]
    port = environ.get("PORT") or "5000"  # honcho's default base port
    for i, arg in enumerate(args):
        if arg in ("-p", "--port") and i + 1 < len(args):
            port = args[i + 1]
        elif arg.startswith("--port="):
            port = arg.removeprefix("--port=")
    return f"http://127.0.0.1:{int(port)}"


def main() -> None:
    os.environ["SITE_URL"] = site_url(sys.argv[1:], os.environ)
    honcho.process.Popen.__init__ = _same_session_init
    honcho.manager.KILL_WAIT = int(os.environ.get("STOP_GRACE_SECONDS", "20"))
    honcho.command.main(["start", *sys.argv[1:]])


if __name__ == "__main__":
    main()
