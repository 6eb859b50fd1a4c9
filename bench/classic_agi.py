#!/usr/bin/env python3
"""The ``incoming`` decision as a classic AGI script (pyst2): one process per call, the AGI
protocol on stdin/stdout, as Asterisk runs ``AGI(/path/script.py)``. It does exactly what the
FastAGI route does (parse the variables, apply the arrival fact to PostgreSQL: call, triage,
ticket; answer with the same ``SET VARIABLE``s), with a database connection of its own per process,
which is what a per-process script must do. ``SIAGA_DATABASE_URL`` names the database.
"""

from __future__ import annotations

import asyncio
import os
import sys

from asterisk.agi import AGI
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from core.db import make_sessionmaker
from gateway.call_path.incoming import answer_for, parse_arrival
from services.calls.apply import apply_fact
from services.triage.decide import NORMAL_PRIORITY

QUEUE = "calltakers"


async def decide(url: str, fact):  # type: ignore[no-untyped-def]
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await apply_fact(session, fact)
    finally:
        await engine.dispose()


def main() -> int:
    with open(os.devnull, "w") as quiet:
        agi = AGI(stderr=quiet)
        env = dict(agi.env)
        arrival = parse_arrival(env, QUEUE)
        ticket, priority, warn = None, NORMAL_PRIORITY, False
        if arrival.fact is not None:
            result = asyncio.run(decide(os.environ["SIAGA_DATABASE_URL"], arrival.fact))
            if result.decision is not None:
                ticket = result.ticket_number
                priority, warn = result.decision.priority, result.decision.warn
        for name, value in answer_for(arrival, ticket, priority, warn).items():
            agi.set_variable(str(name), value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
