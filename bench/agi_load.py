"""The AGI load generator, run as its own process (so it does not share the gateway's event loop):
``python -m bench.agi_load HOST PORT CONCURRENCY SESSIONS PREFIX [RATE]`` prints one JSON line.

Each session speaks AGI as Asterisk does: it sends the variable block Asterisk 22 sends for
``AGI(agi://host:port/incoming,<recording>)`` (``tests.agi_client.agi_env``) and a blank line,
then answers each command the gateway sends, one at a time, as Asterisk would (``200 result=1``
to ``SET VARIABLE``, ``200 result=0`` to an ``EXEC`` of an application that returns 0), until
the gateway closes the connection. Written on asyncio protocols, without streams: this process
shares the cores with the gateway and PostgreSQL, so it should cost as little as Asterisk's own
side would.

- Closed loop (no RATE): CONCURRENCY connections, each running sessions back to back until
  SESSIONS are done. Latency is connect to close. A saturation figure: with every connection
  always busy, latency is CONCURRENCY / throughput (Little's law), whatever the gateway does.
- Open loop (RATE sessions per second): session i is due at ``start + i / RATE``, whatever became
  of the earlier ones; at most CONCURRENCY are open at once (a due session waits for a free slot).
  Latency is from the session's due time to close, so waiting for a slot counts (no coordinated
  omission).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from typing import Any, cast

from core import eventloop
from tests.agi_client import agi_env

SESSION_SECONDS = 10.0  # a session still open after this is an error


class _Session(asyncio.Protocol):
    def __init__(self, header: bytes, done: asyncio.Future[bool]) -> None:
        self.header = header
        self.done = done
        self.buffer = b""
        self.ticket = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.header)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, _, self.buffer = self.buffer.partition(b"\n")
            if b"SIAGA_TICKET" in line:
                self.ticket = True
            assert self.transport is not None
            self.transport.write(b"200 result=0\n" if line[:4] == b"EXEC" else b"200 result=1\n")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is None:
                self.done.set_result(self.ticket)
            else:
                self.done.set_exception(exc)


class Load:
    def __init__(self, host: str, port: int, prefix: int) -> None:
        self.host = host
        self.port = port
        self.prefix = prefix
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.tickets = 0
        self.open = 0
        self.peak_open = 0
        env = agi_env("UID", callerid="CALLER", recording="2026/11/23/UID.wav", port=port)
        env["agi_channel"] = "PJSIP/carrier-CHAN"
        # the block with three slots; formatting a string is all a session costs to build
        template = "".join(f"{k}: {v}\n" for k, v in env.items()) + "\n"
        self.template = (
            template.replace("{", "{{")
            .replace("}", "}}")
            .replace("UID", "{uid}")
            .replace("CALLER", "{caller}")
            .replace("CHAN", "{chan}")
        )

    def header(self, i: int) -> bytes:
        uid = f"{self.prefix}.{i}"
        caller = f"0812{(self.prefix + i) % 10**8:08d}"
        return self.template.format(uid=uid, caller=caller, chan=f"{i:08d}").encode()

    async def session(self, i: int, since: float) -> None:
        """One session; its latency is counted from ``since`` (perf_counter)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        transport: asyncio.BaseTransport | None = None
        try:
            async with asyncio.timeout(SESSION_SECONDS):
                transport, _ = await loop.create_connection(
                    lambda: _Session(self.header(i), done), self.host, self.port
                )
                ticket = await done
        except Exception as exc:  # counted, never hidden
            self.errors.append(type(exc).__name__)
            if transport is not None:
                transport.abort()
            return
        finally:
            self.open -= 1
        self.latencies.append(time.perf_counter() - since)
        self.tickets += ticket

    async def closed_loop(self, concurrency: int, sessions: int) -> None:
        counter = iter(range(sessions))

        async def worker() -> None:
            for i in counter:
                await self.session(i, time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def open_loop(self, rate: float, max_open: int, sessions: int) -> None:
        slots = asyncio.Semaphore(max_open)
        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter() + 0.01

        async def one(i: int, due: float) -> None:
            try:
                await self.session(i, due)
            finally:
                slots.release()

        for i in range(sessions):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await slots.acquire()
            task = asyncio.create_task(one(i, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)


async def run(
    host: str, port: int, concurrency: int, sessions: int, prefix: int, rate: float = 0.0
) -> dict[str, Any]:
    load = Load(host, port, prefix)
    cpu0 = time.process_time()
    started = time.perf_counter()
    if rate > 0:
        await load.open_loop(rate, concurrency, sessions)
    else:
        await load.closed_loop(concurrency, sessions)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    return {
        "concurrency": concurrency,
        "offered_per_s": rate or None,
        "sessions": len(load.latencies),
        "errors": len(load.errors),
        "error_kinds": sorted(set(load.errors)),
        "tickets": load.tickets,
        "peak_open": load.peak_open,
        "elapsed_s": elapsed,
        "cpu_s": cpu,  # this process's CPU for the sessions (start-up excluded)
        "latencies": load.latencies,
    }


def main() -> None:
    host, port, concurrency, sessions, prefix = sys.argv[1:6]
    rate = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
    # Asterisk's side never pauses to collect garbage; a run of a few seconds needs no collector
    gc.freeze()
    gc.disable()
    result = eventloop.run(run(host, int(port), int(concurrency), int(sessions), int(prefix), rate))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
