#!/usr/bin/env python3
"""Classic AGI script: record a 112 call's arrival in the gateway's local spool.

The dialplan's fallback when the FastAGI server cannot be reached::

    AGI(/path/to/agi_scripts/spool_call.py,${SIAGA_RECORDING})

It reads the AGI variables (pyst2), validates them exactly as the FastAGI route does, and drops one
fsync'd JSON line in ``<SIAGA_STATE_DIR>/spool/`` (default ``/var/lib/siaga112/spool``). The
gateway's spool replayer opens the ticket once it runs again; it never touches the database itself
and sets no variables, so the dialplan keeps its defaults. Exit status 0 whatever happens: the
call never waits on this script.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from asterisk.agi import AGI

from core.settings import Settings
from gateway.call_path.incoming import parse_arrival


def write_fact(directory: Path, line: str, uniqueid: str) -> Path:
    """Write one journal file atomically (temporary name, fsync, rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"agi-{uniqueid}-{time.time_ns()}"
    temporary = directory / f".{name}.tmp"
    with temporary.open("w", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    final = directory / f"{name}.jsonl"
    temporary.rename(final)
    return final


def main() -> int:
    with open(os.devnull, "w") as quiet:  # pyst2 echoes the AGI variables on stderr
        agi = AGI(stderr=quiet)
        env = dict(agi.env)
    if "agi_arg_1" not in env and len(sys.argv) > 1:
        env["agi_arg_1"] = sys.argv[1]
    settings = Settings()
    arrival = parse_arrival(env, settings.asterisk.queue)
    if arrival.fact is None:
        return 0
    line = json.dumps(arrival.fact.to_json(), separators=(",", ":"), default=str)
    write_fact(settings.spool_dir, line, arrival.fact.uniqueid)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # the call goes on with its defaults whatever happens here
        sys.exit(0)
