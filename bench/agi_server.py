"""The gateway's FastAGI side as the benchmarks run it: ``gateway.main.build`` + ``start`` (the real
``incoming`` route, fact store, spool, workers) without the AMI consumer (no Asterisk here).

``python -m bench.agi_server DATABASE_URL PORT STATE_DIR [shipped|tuned]`` prints ``READY``
once listening, logs
at INFO (one line per session, as in production) to ``STATE_DIR/gateway.log``, stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from core import eventloop
from core.settings import FastAgiSettings, Settings
from gateway.main import build, freeze_startup_objects, start, stop


def tuned_engine(url: str) -> AsyncEngine:
    """The engine change measured as ``tuned``: a pool as large as the sessions in flight, no
    ping round trip on every checkout, no TLS negotiation attempt on loopback."""
    return create_async_engine(
        url,
        pool_size=60,
        max_overflow=20,
        pool_pre_ping=False,
        connect_args={
            "timeout": 2,
            "command_timeout": 5,
            "ssl": False,
            "server_settings": {"timezone": "UTC"},
        },
    )


async def serve(url: str, port: int, state_dir: Path, variant: str) -> None:
    settings = Settings(database_url=url, state_dir=state_dir, fastagi=FastAgiSettings(port=port))
    gateway = build(settings, tuned_engine(url) if variant == "tuned" else None)
    await start(gateway, with_ami=False)
    await gateway.store.pool.open()  # as the first calls would; ready before the first session
    freeze_startup_objects()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, done.set)
    print("READY", flush=True)
    await done.wait()
    await stop(gateway, grace_seconds=2.0)


def main() -> None:
    url, port, state_dir = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    variant = sys.argv[4] if len(sys.argv) > 4 else "shipped"
    state_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=state_dir / "gateway.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    eventloop.run(serve(url, port, state_dir, variant))


if __name__ == "__main__":
    main()
