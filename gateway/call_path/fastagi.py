"""panoramisk's FastAGI ``Application`` with a safe session start.

panoramisk 1.4 reads the AGI variable block with no bound and loops forever on a connection that
closes before the blank line (a port probe, a health check, a scanner), which would stall every
call. Here the block is read at once up to its blank line within ``HEADER_SECONDS``, at most
``MAX_LINES`` lines; anything else closes that one connection and the server goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from panoramisk.fast_agi import Application, Request

log = logging.getLogger(__name__)

HEADER_SECONDS = 2.0
MAX_LINES = 200


class FastAgiApplication(Application):  # type: ignore[misc]
    async def read_headers(self, reader: asyncio.StreamReader) -> OrderedDict[str, str] | None:
        headers: OrderedDict[str, str] = OrderedDict()
        try:
            async with asyncio.timeout(HEADER_SECONDS):
                block = await reader.readuntil(b"\n\n")
        except asyncio.IncompleteReadError:
            return None  # closed before the end of the block
        except asyncio.LimitOverrunError:
            return None  # no blank line within the stream's limit (64 KiB): not Asterisk
        lines = block.decode(self.default_encoding, errors="replace").split("\n")
        if len(lines) > MAX_LINES + 2:
            return None
        for line in lines:
            key, sep, value = line.rstrip("\r").partition(": ")
            if sep:
                headers[key.strip()] = value
        return headers

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers: OrderedDict[str, str] | None = None
        try:
            try:
                headers = await self.read_headers(reader)
            except (TimeoutError, ValueError, ConnectionError) as exc:
                log.warning(
                    "FastAGI session dropped while reading its variables: %s", type(exc).__name__
                )
                return
            if headers is None:
                log.debug("FastAGI connection closed before its variables")
                return
            script = headers.get("agi_network_script")
            route: Any = self._route.get(script) if script is not None else None
            if route is None:
                log.error("FastAGI request for unknown route %.60r", script)
                return
            await route(Request(self, headers, reader, writer, self.default_encoding))
        except Exception:
            log.exception(
                "FastAGI route %s failed", headers.get("agi_network_script") if headers else None
            )
        finally:
            writer.close()
