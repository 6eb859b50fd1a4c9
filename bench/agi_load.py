"""The AGI load generator, run as its own process (so it does not share the gateway's event loop):
``python -m bench.agi_load HOST PORT CONCURRENCY SESSIONS PREFIX`` prints one JSON line.

Each of CONCURRENCY workers opens sessions back to back with ``gateway.agi_client.agi_call`` (the
variable block Asterisk 22 sends, ``200 result=1`` to every command) until SESSIONS are done. A
session's latency is from connect to the gateway closing the socket.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from gateway.agi_client import agi_call, agi_env


async def run(host: str, port: int, concurrency: int, sessions: int, prefix: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    tickets = 0
    counter = iter(range(sessions))

    async def worker() -> None:
        nonlocal tickets
        for i in counter:
            uniqueid = f"{prefix}.{i}"
            env = agi_env(
                uniqueid,
                callerid=f"0812{(prefix + i) % 10**8:08d}",
                recording=f"2026/11/23/{uniqueid}.wav",
                port=port,
            )
            t0 = time.perf_counter()
            try:
                result = await agi_call(host, port, env, timeout=10.0)
            except Exception as exc:  # counted, never hidden
                errors.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - t0)
            if result.variables.get("SIAGA_TICKET"):
                tickets += 1

    cpu0 = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu0
    return {
        "concurrency": concurrency,
        "sessions": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "tickets": tickets,
        "elapsed_s": elapsed,
        "cpu_s": cpu,  # this process's CPU for the sessions (start-up excluded)
        "latencies": latencies,
    }


def main() -> None:
    host, port, concurrency, sessions, prefix = sys.argv[1:6]
    result = asyncio.run(run(host, int(port), int(concurrency), int(sessions), int(prefix)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
