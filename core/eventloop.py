"""The event loop every Siaga112 process runs on: uvloop's (libuv), which spends less CPU per
socket event than asyncio's own; the call path's sessions are mostly socket events."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop."""
    return uvloop.run(main)
