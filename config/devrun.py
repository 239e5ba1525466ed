"""`make run`'s process manager: honcho running Procfile.dev (web, Celery worker, Celery beat) in one terminal.

Two changes from plain `honcho start`:
- the processes stay in the caller's session and process group (honcho starts each in a new session by
  default), so Ctrl-C in the terminal and a `kill` of the group reach all of them, and none outlives `make run`;
- honcho waits STOP_GRACE_SECONDS (default 20, not 5) before SIGKILL, so the worker finishes its current task.

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


def main() -> None:
    honcho.process.Popen.__init__ = _same_session_init
    honcho.manager.KILL_WAIT = int(os.environ.get("STOP_GRACE_SECONDS", "20"))
    honcho.command.main(["start", *sys.argv[1:]])


if __name__ == "__main__":
    main()
