"""The run command: a whole local 112 centre in the foreground (``bash scripts/run``).

PostgreSQL (the given ``SIAGA_DATABASE_URL``, or an embedded one under the state folder), the
schema, generated secrets (kept in ``<state>/secrets.env``, 0600), seed data, Asterisk, the gateway,
webhook delivery (``python -m gateway.delivery``) and the HTTP API. Children that die are restarted
(with a growing pause); Ctrl-C or SIGTERM stops everything in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core.settings import Settings, get_settings
from ops.asterisk import AsteriskInstance

log = logging.getLogger(__name__)

SECRETS_FILE = "secrets.env"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD_VAR = "SIAGA_ADMIN_PASSWORD"  # noqa: S105 (a variable name)
GENERATED = ("SIAGA_AMI__SECRET", "SIAGA_API__JWT_SECRET", ADMIN_PASSWORD_VAR)


# --- settings and secrets ------------------------------------------------------------------
def load_or_create_secrets(state_dir: Path) -> dict[str, str]:
    """The centre's generated secrets: read from ``secrets.env``, created once (0600).
    A secret given in the environment wins over a generated one."""
    path = state_dir / SECRETS_FILE
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip():
                values[key.strip()] = value.strip()
    missing = [name for name in GENERATED if name not in values]
    if missing:
        for name in missing:
            values[name] = secrets.token_urlsafe(24)
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in sorted(values.items()))
    path.chmod(0o600)
    return {k: os.environ.get(k) or v for k, v in values.items()}


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ``SIAGA_*`` environment variables, so a child process sees the same ones."""
    env: dict[str, str] = {}

    def plain(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    import json

    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                if subvalue is None:
                    continue
                subvalue = plain(subvalue)
                key = f"SIAGA_{name.upper()}__{sub.upper()}"
                env[key] = subvalue if isinstance(subvalue, str) else json.dumps(subvalue)
        else:
            value = plain(value)
            env[f"SIAGA_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


# --- seed data (written by other areas; used when present) -----------------------------------
async def _call_seed(module: str, func: str, *args: Any, **kwargs: Any) -> bool:
    try:
        target: Callable[..., Any] = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError):
        log.warning("seed: %s.%s is not there yet; skipped", module, func)
        return False
    result = target(*args, **kwargs)
    if inspect.isawaitable(result):
        await result
    return True


async def seed(settings: Settings, admin_password: str) -> None:
    from core.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url or "", pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            await _call_seed(
                "services.users.service", "ensure_admin", session, ADMIN_USERNAME, admin_password
            )
            await _call_seed("services.dispatch.agencies", "seed", session)
            await session.commit()
    finally:
        await engine.dispose()


# --- supervised children ---------------------------------------------------------------------
class Child:
    """A child process restarted when it dies (pause doubling up to 10 s)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.process: asyncio.subprocess.Process | None = None
        self.stopping = False

    async def run(self) -> None:
        pause = 0.5
        while not self.stopping:
            started = time.monotonic()
            self.process = await asyncio.create_subprocess_exec(*self.argv, env=self.env)
            code = await self.process.wait()
            if self.stopping:
                return
            if time.monotonic() - started > 60:
                pause = 0.5  # it had been running fine: restart at once
            log.warning("%s exited with %s; restarting in %.1f s", self.name, code, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)

    async def stop(self, grace: float = 15.0) -> None:
        self.stopping = True
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def describe(settings: Settings, admin_password: str) -> str:
    a = settings.asterisk
    lines = [
        "",
        f"Siaga112 centre '{settings.centre_name}' is running. Ctrl-C stops it.",
        f"  SIP trunk (carrier):   sip:112@{a.sip_bind}:{a.sip_port}"
        f" from {', '.join(a.carrier_addresses)}",
        f"  numbers answered:      {', '.join(a.dialled_numbers)}",
        f"  queue:                 {a.queue}",
        "  call takers' SIP accounts:",
    ]
    for ct in a.calltakers:
        how = f"rings {ct.contact}" if ct.contact else "registers"
        auth = "with password" if ct.password else "no password (static contact only)"
        lines.append(f"    {ct.account:<10} {how}, {auth}")
    lines += [
        f"  API docs:              http://{settings.api.host}:{settings.api.port}/docs",
        f"  admin login:           {ADMIN_USERNAME} / password in"
        f" {settings.state_dir / SECRETS_FILE}"
        f" ({ADMIN_PASSWORD_VAR})",
        f"  recordings:            {settings.asterisk_host_path(settings.recordings_dir)}",
        "  demo call:             bash scripts/demo-call",
        "",
    ]
    del admin_password  # never printed
    return "\n".join(lines)


async def run_centre(settings: Settings) -> int:
    secret_values = load_or_create_secrets(settings.state_dir)
    env_secrets = {k: v for k, v in secret_values.items() if k != ADMIN_PASSWORD_VAR}
    os.environ.update(env_secrets)
    get_settings.cache_clear()
    settings = get_settings()

    pg = None
    if not settings.database_url:
        from ops.postgres import LocalPostgres

        pg = LocalPostgres(settings.state_dir / "pg" / "data")
        pg.start()
        os.environ["SIAGA_DATABASE_URL"] = pg.url
        get_settings.cache_clear()
        settings = get_settings()
    settings.require_secrets()

    from models.migrate import upgrade

    await asyncio.to_thread(upgrade, settings.database_url or "")
    await seed(settings, secret_values[ADMIN_PASSWORD_VAR])

    asterisk = AsteriskInstance(settings)
    await asyncio.to_thread(asterisk.start)
    env = {**os.environ, **settings_env(settings)}
    py = sys.executable
    # webhook delivery in a process of its own: a backlog never shares the call path's loop
    gateway_env = {**env, "SIAGA_WEBHOOKS__WORKERS": "0"}
    children = [
        Child("gateway", [py, "-m", "gateway"], gateway_env),
        Child("delivery", [py, "-m", "gateway.delivery"], env),
        Child(
            "api",
            [
                py,
                "-m",
                "uvicorn",
                "--factory",
                "api.app:create_app",
                "--host",
                settings.api.host,
                "--port",
                str(settings.api.port),
                "--log-level",
                "warning",
            ],
            env,
        ),
    ]
    tasks = [asyncio.create_task(c.run(), name=c.name) for c in children]
    print(describe(settings, secret_values[ADMIN_PASSWORD_VAR]), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watchdog = asyncio.create_task(_watch_asterisk(asterisk, stop))
    await stop.wait()
    print("siaga112: stopping", flush=True)
    watchdog.cancel()
    for child in children:
        await child.stop()
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await asyncio.to_thread(asterisk.stop)
    if pg is not None:
        await asyncio.to_thread(pg.stop)
    return 0


async def _watch_asterisk(asterisk: AsteriskInstance, stop: asyncio.Event) -> None:
    """Asterisk is the one part calls cannot do without: restart it if it dies."""
    while not stop.is_set():
        await asyncio.sleep(2)
        process = asterisk.process
        if process is not None and process.poll() is not None and not stop.is_set():
            log.error("Asterisk exited with %s; restarting", process.returncode)
            try:
                await asyncio.to_thread(asterisk.start)
            except Exception:
                log.exception("Asterisk restart failed; trying again")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if os.geteuid() != 0 and get_settings().asterisk.mode == "chroot":
        print("siaga112: the run command needs root (Asterisk runs in a chroot)", file=sys.stderr)
        return 1
    try:
        return asyncio.run(run_centre(get_settings()))
    except subprocess.CalledProcessError as exc:
        print(f"siaga112: {exc}: {exc.stderr}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
