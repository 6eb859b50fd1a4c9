"""A demo 112 call against the running centre (``bash scripts/demo-call``).

SIPp plays a citizen calling 112 from the carrier's address (with recorded speech) and answers as
the call takers' phones on their static contacts; then the call's ticket is printed.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from sqlalchemy import text

from core.names import ticket_number
from core.settings import Settings, get_settings
from ops.sipp import SPEECH, SippRunner

DEMO_NUMBER = "081234567890"


def _host_port(contact: str) -> tuple[str, int] | None:
    hostport = contact.split("@", 1)[-1].split(";", 1)[0]
    host, _, port = hostport.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


async def _ticket_of(settings: Settings, number: str) -> str | None:
    if not settings.database_url:
        return None
    from core.db import make_engine

    engine = make_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT ticket_id, outcome, calltaker, recording_path FROM calls "
                        "WHERE caller_number_raw = :n ORDER BY id DESC LIMIT 1"
                    ),
                    {"n": number},
                )
            ).first()
    finally:
        await engine.dispose()
    if row is None or row.ticket_id is None:
        return None
    return (
        f"ticket {ticket_number(row.ticket_id)}: outcome {row.outcome}, "
        f"call taker {row.calltaker}, recording {row.recording_path}"
    )


async def demo_call(settings: Settings, number: str = DEMO_NUMBER) -> int:
    a = settings.asterisk
    source = a.carrier_addresses[0].split("/", 1)[0]
    workdir = Path(tempfile.mkdtemp(prefix="siaga-demo-"))
    runner = SippRunner(workdir, a.sip_port, port_base=45000)
    for ct in a.calltakers:
        where = _host_port(ct.contact or "")
        if where and where[0].startswith("127."):
            await runner.start_calltaker(where[1], talk_ms=3000)
    print(
        f"demo: {number} calls {a.dialled_numbers[0]} from {source};"
        " SIPp answers as the call takers"
    )
    try:
        result = await runner.call(
            [number], audio=SPEECH, source_ip=source, dialled=a.dialled_numbers[0], timeout_s=90
        )
    finally:
        await runner.stop()
    if not result.ok:
        print(
            f"demo: the call failed (SIPp exit {result.returncode}); see {workdir}", file=sys.stderr
        )
        return 1
    print("demo: the call was answered, greeted, queued, picked up by a call taker and ended")
    for _ in range(20):
        found = await _ticket_of(settings, number)
        if found:
            print(f"demo: {found}")
            return 0
        await asyncio.sleep(0.5)
    print("demo: no ticket found for the call (is the gateway running?)", file=sys.stderr)
    return 1


def main() -> int:
    settings = get_settings()
    if not settings.database_url:
        pg_password = settings.state_dir / "pg" / "data.password"
        if pg_password.exists():
            from ops.postgres import LocalPostgres

            url = LocalPostgres(settings.state_dir / "pg" / "data").url
            settings = settings.model_copy(update={"database_url": url})
    return asyncio.run(demo_call(settings))


if __name__ == "__main__":
    sys.exit(main())
