"""One statement, one row: the same SQL text (``:name`` parameters) run on an ORM session or on a
plain asyncpg connection (the gateway's call path, where the ORM's per-statement cost matters).

asyncpg prepares each statement once per connection and keeps it (its statement cache), so the
call path pays parse and plan once, then only binds and executes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

import asyncpg
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# a ``:name`` parameter, as SQLAlchemy's text() finds them (``::type`` casts are not parameters)
_PARAM = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
# each statement's text() and positional form, made once (the SQL texts are a fixed few)
_texts: dict[str, TextClause] = {}
_converted: dict[str, tuple[str, tuple[str, ...]]] = {}


class Rows(Protocol):
    async def row(self, sql: str, params: Mapping[str, Any]) -> Mapping[Any, Any] | None:
        """The first row of ``sql`` run with ``params`` (None when it returns none)."""

    async def rows(self, sql: str, params: Mapping[str, Any]) -> list[Mapping[Any, Any]]:
        """Every row of ``sql`` run with ``params``."""

    async def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        """Run ``sql`` (a statement that returns no rows) with ``params``."""


class SessionRows:
    """``Rows`` on an ORM session or Core connection, in its transaction."""

    def __init__(self, session: AsyncSession | AsyncConnection) -> None:
        self.session = session

    async def row(self, sql: str, params: Mapping[str, Any]) -> Mapping[Any, Any] | None:
        result = await self.session.execute(_text(sql), dict(params))
        return result.mappings().first()

    async def rows(self, sql: str, params: Mapping[str, Any]) -> list[Mapping[Any, Any]]:
        result = await self.session.execute(_text(sql), dict(params))
        return list(result.mappings().all())

    async def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        await self.session.execute(_text(sql), dict(params))


def _text(sql: str) -> TextClause:
    statement = _texts.get(sql)
    if statement is None:
        statement = _texts[sql] = text(sql)
    return statement


def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with ``$1, $2...`` for its ``:name`` parameters, and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PARAM.sub(number, sql), tuple(names)


class PgRows:
    """``Rows`` on an asyncpg connection: each statement its own transaction, unless the caller
    opened one (``connection.transaction()``)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def row(self, sql: str, params: Mapping[str, Any]) -> Mapping[Any, Any] | None:
        query, values = _bound(sql, params)
        record = await self.connection.fetchrow(query, *values)
        return record  # type: ignore[no-any-return]

    async def rows(self, sql: str, params: Mapping[str, Any]) -> list[Mapping[Any, Any]]:
        query, values = _bound(sql, params)
        return await self.connection.fetch(query, *values)  # type: ignore[no-any-return]

    async def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        query, values = _bound(sql, params)
        await self.connection.execute(query, *values)


def _bound(sql: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """``sql`` in positional form (converted once) and ``params`` in its order."""
    converted = _converted.get(sql)
    if converted is None:
        converted = _converted[sql] = positional(sql)
    query, names = converted
    return query, [params[n] for n in names]
