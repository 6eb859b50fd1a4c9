"""The database down: the FastAGI step still answers, and what it learned is kept on disk until
the database returns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core.db import make_sessionmaker
from core.names import DialplanVar
from gateway import main
from gateway.call_path.durable import DurableWrites
from gateway.call_path.spool import Spool
from tests.agi_client import agi_env
from tests.conftest import free_port
from tests.gateway.conftest import agi_call, call_row, make_settings, new_uniqueid, ticket_row

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def gateway_without_database(
    database_url: str, tmp_path: Path
) -> AsyncIterator[main.Gateway]:
    """A gateway whose database is a closed port."""
    closed = f"postgresql+asyncpg://siaga:x@127.0.0.1:{free_port()}/siaga"
    settings = make_settings(database_url, tmp_path)
    gw = main.build(settings, create_async_engine(closed, connect_args={"timeout": 2}))
    await main.start(gw, with_ami=False)
    yield gw
    await main.stop(gw, grace_seconds=1)


def store_on(engine: AsyncEngine, spool_dir: Path) -> DurableWrites:
    return DurableWrites(make_sessionmaker(engine), Spool(spool_dir), bound_seconds=5)


async def test_with_the_database_down_the_call_gets_defaults_and_its_ticket_later(
    gateway_without_database: main.Gateway, engine: AsyncEngine
) -> None:
    gw = gateway_without_database
    uniqueid = new_uniqueid()
    fastagi = gw.settings.fastagi
    recording = f"2026/11/23/{uniqueid}.wav"

    answer = await agi_call(
        fastagi.host,
        fastagi.port,
        agi_env(uniqueid, "081234567890", recording=recording),
        timeout=fastagi.db_bound_seconds + 2,
    )

    assert DialplanVar.TICKET not in answer.variables
    assert answer.variables[DialplanVar.CALLER] == "+6281234567890"
    spooled = gw.settings.spool_dir / "journal.live"
    lines = [json.loads(line) for line in spooled.read_text().splitlines()]
    assert [(f["kind"], f["uniqueid"]) for f in lines] == [("arrived", uniqueid)]

    # the database is back: the replay opens the ticket, with its number, once
    store = store_on(engine, gw.settings.spool_dir)
    gw.store.spool.close()
    assert await store.replay_once() == 1
    assert await store.replay_once() == 0
    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id is not None
    assert call.recording_path == recording and call.caller_number == "+6281234567890"
    assert await ticket_row(engine, call.ticket_id) is not None
    assert list(gw.settings.spool_dir.glob("*.jsonl")) == []


async def test_a_spool_replayed_twice_opens_no_second_ticket(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    uniqueid = new_uniqueid()
    store = store_on(engine, tmp_path)
    line = json.dumps(
        {
            "kind": "arrived",
            "uniqueid": uniqueid,
            "at": "2026-11-23T08:00:00+00:00",
            "data": {"caller_number": "+6281234567890", "caller_number_raw": "081234567890"},
        }
    )
    (tmp_path / "copy-a.jsonl").write_text(line + "\n" + "not json\n")
    (tmp_path / "copy-b.jsonl").write_text(line + "\n")

    assert await store.replay_once() == 2  # the unreadable line is skipped, with a log line

    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id is not None
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM call_events WHERE uniqueid = :u"), {"u": uniqueid}
        )
    assert count == 1


async def test_the_classic_agi_script_spools_an_arrival_the_gateway_replays(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    uniqueid = new_uniqueid()
    env = agi_env(uniqueid, "0812-1111-2222", recording=f"2026/11/23/{uniqueid}.wav")
    block = "".join(f"{k}: {v}\n" for k, v in env.items()) + "\n"

    done = subprocess.run(
        [sys.executable, str(ROOT / "agi_scripts" / "spool_call.py")],
        input=block,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, "SIAGA_STATE_DIR": str(tmp_path)},
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # no AGI command: the dialplan keeps its defaults
    assert len(list((tmp_path / "spool").glob("agi-*.jsonl"))) == 1
    await store_on(engine, tmp_path / "spool").replay_once()
    call = await call_row(engine, uniqueid)
    assert call is not None and call.ticket_id is not None
    assert call.caller_number == "+6281211112222"
