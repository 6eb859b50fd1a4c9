"""A loopback webhook receiver for the benchmarks, in its own process: a minimal HTTP/1.1 server
(keep-alive) that answers 204 and notes each ``webhook-id`` with its arrival time.

``python -m bench.receiver PORT OUT.json``: prints ``READY``; on SIGTERM writes ``{id: epoch_s}``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

RESPONSE = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


async def serve(port: int, out: str) -> None:
    received: dict[str, float] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(1_000_000):  # requests on one keep-alive connection
                head = await reader.readuntil(b"\r\n\r\n")
                length, message_id = 0, ""
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    key = name.strip().lower()
                    if key == b"content-length":
                        length = int(value)
                    elif key == b"webhook-id":
                        message_id = value.strip().decode()
                if length:
                    await reader.readexactly(length)
                received[message_id] = time.time()
                writer.write(RESPONSE)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    done = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
    print("READY", flush=True)
    await done.wait()
    server.close()
    await asyncio.to_thread(Path(out).write_text, json.dumps(received))


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
