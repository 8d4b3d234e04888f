"""Run by tests as a real process: apply the migrations to a database.

python -m tests.procs.migrate URL --after GO_FILE   # wait until GO_FILE exists, then upgrade (races)
python -m tests.procs.migrate URL --die-at N        # kill -9 itself as the N-th CREATE statement runs
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from aispend.core.ledger.db import make_engine, upgrade

if __name__ == "__main__":
    url, mode, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    engine = make_engine(url)
    if mode == "--after":
        while not Path(arg).exists():  # all racers start together
            time.sleep(0.001)
    else:
        creates = [0]

        @event.listens_for(engine, "before_cursor_execute")
        def _die(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("CREATE"):
                creates[0] += 1
                if creates[0] == int(arg):
                    os.kill(os.getpid(), signal.SIGKILL)

    upgrade(engine)
