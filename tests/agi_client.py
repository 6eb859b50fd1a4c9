"""A small FastAGI client that talks to the gateway the way Asterisk does: it sends the ``agi_*``
variable block, answers every command with ``200 result=1`` and collects the variables they set
(``SET VARIABLE`` and ``EXEC MSet`` alike, as the channel would hold them).

Used by the tests and the benchmarks; ``agi_env`` builds a realistic variable block.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from gateway.call_path.incoming import variables_of


def agi_env(
    uniqueid: str,
    callerid: str = "081234567890",
    *,
    script: str = "incoming",
    recording: str | None = None,
    host: str = "127.0.0.1",
    port: int = 4573,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The variables Asterisk 22 sends for ``AGI(agi://host:port/script,<recording>)``."""
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://{host}:{port}/{script}",
        "agi_channel": f"PJSIP/carrier-{uniqueid.rsplit('.', 1)[-1].zfill(8)}",
        "agi_language": "id",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.0.0",
        "agi_callerid": callerid,
        "agi_calleridname": "unknown",
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "112",
        "agi_rdnis": "unknown",
        "agi_context": "siaga-112",
        "agi_extension": "s",
        "agi_priority": "13",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140000000000000",
    }
    if recording is not None:
        env["agi_arg_1"] = recording
    env.update(extra or {})
    return env


@dataclass
class AgiResult:
    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)


async def agi_call(
    host: str,
    port: int,
    env: dict[str, str],
    timeout: float = 5.0,
    raw_header: bytes | None = None,
) -> AgiResult:
    """One FastAGI session: send ``env`` (or ``raw_header`` as is), answer until it closes."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    result = AgiResult()
    try:
        header = raw_header
        if header is None:
            header = ("".join(f"{k}: {v}\n" for k, v in env.items()) + "\n").encode()
        writer.write(header)
        await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                break
            command = line.decode(errors="replace").rstrip("\n")
            result.commands.append(command)
            writer.write(b"200 result=1\n")
            await writer.drain()
            result.variables.update(variables_of(command))
    finally:
        writer.close()
        with _suppress():
            await writer.wait_closed()
    return result


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]
