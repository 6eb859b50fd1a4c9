"""End-to-end fixtures: one real Asterisk (in its chroot) for the whole session on free ports,
the gateway as a child process (``python -m gateway``), two SIPp call takers, SIPp as the carrier,
and a plain AMI listener. Every test here is marked ``e2e``."""

from __future__ import annotations

import asyncio
import csv
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import CallTaker, Settings
from ops.asterisk import AsteriskInstance
from ops.centre import settings_env
from ops.sipp import SippRunner
from services.calls.reconcile import CDR_COLUMNS
from tests.conftest import free_port
from tests.e2e.agi_stub import AgiStub
from tests.e2e.ami_watch import AmiWatch

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_number() -> str:
    """An Indonesian mobile number no other test uses."""
    return "0812" + f"{secrets.randbelow(10**8):08d}"


def centre_settings(
    database_url: str,
    name: str,
    calltakers: int,
    rtp_base: int,
    rtp_span: int,
    **extra: Any,
) -> Iterator[Settings]:
    """Settings for a test centre of its own (``name`` marks its folders): free ports, its own
    RTP range and ``calltakers`` SIPp call-taker contacts; ``extra`` adds settings sections
    (``asterisk`` entries are merged). Skips without SIPp or root; removes its state at the end."""
    if shutil.which("sipp") is None:
        pytest.skip("SIPp is not installed (apt-get install sip-tester)")
    if os.geteuid() != 0:
        pytest.skip("the Asterisk chroot needs root")
    ct_ports = [_free_udp_port() for _ in range(calltakers)]
    state_dir = Path(tempfile.mkdtemp(prefix=f"siaga-{name}-state-"))
    asterisk = {
        "instance_dir": f"/tmp/siaga-{name}-{uuid.uuid4().hex[:8]}",
        "sip_port": _free_udp_port(),
        "rtp_start": rtp_base,
        "rtp_end": rtp_base + rtp_span - 1,
        "calltakers": [
            CallTaker(account=f"ct{i + 1}", contact=f"sip:ct{i + 1}@127.0.0.1:{port}")
            for i, port in enumerate(ct_ports)
        ],
        **extra.pop("asterisk", {}),
    }
    yield Settings(
        database_url=database_url,
        state_dir=state_dir,
        ami={"port": free_port(), "secret": secrets.token_urlsafe(24)},
        fastagi={"port": free_port()},
        api={"jwt_secret": secrets.token_urlsafe(32), "port": free_port()},
        asterisk=asterisk,
        **extra,
    )
    if not os.environ.get("SIAGA_E2E_KEEP"):
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def e2e_settings(database_url: str) -> Iterator[Settings]:
    yield from centre_settings(
        database_url,
        "e2e",
        calltakers=2,
        rtp_base=20000 + (os.getpid() % 50) * 400,
        rtp_span=400,
        # no e2e test needs webhooks; this gateway lives for the whole run on the shared
        # database, and its workers would otherwise take (and refuse: loopback targets) the
        # messages other tests' receivers wait for
        webhooks={"workers": 0},
    )


@pytest.fixture(scope="session")
def asterisk(e2e_settings: Settings) -> Iterator[AsteriskInstance]:
    instance = AsteriskInstance(e2e_settings)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        if not os.environ.get("SIAGA_E2E_KEEP"):
            shutil.rmtree(instance.host_path(), ignore_errors=True)


class GatewayProcess:
    """The real gateway (``python -m gateway``) as a child, started and stopped by tests."""

    def __init__(self, settings: Settings, asterisk: AsteriskInstance) -> None:
        self.settings = settings
        self.asterisk = asterisk
        self.log_file = asterisk.log_dir / "gateway.log"
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return (ROOT / "gateway" / "__main__.py").exists()

    def _listening(self) -> bool:
        """Whether the FastAGI port is bound (asked of the kernel: connecting to it would open
        an AGI session that says nothing)."""
        out = subprocess.run(
            ["ss", "-ltnH", f"sport = :{self.settings.fastagi.port}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return bool(out.strip())

    def _ami_sessions(self) -> int:
        """How many AMI sessions the gateway's account has open (ours included)."""
        out = self.asterisk.cli("manager show connected")
        return sum(
            1 for line in out.splitlines() if line.split()[:1] == [self.settings.ami.username]
        )

    def start(self, timeout: float = 30.0) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        sessions_before = self._ami_sessions()
        env = {**os.environ, **settings_env(self.settings)}
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the gateway exited with {self.process.returncode}; see {self.log_file}"
                )
            if self._listening() and self._ami_sessions() > sessions_before:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the gateway did not listen within {timeout} s; see {self.log_file}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def gateway_process(e2e_settings: Settings, asterisk: AsteriskInstance) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(e2e_settings, asterisk)
    yield gateway
    gateway.stop()


@pytest.fixture
def gateway(gateway_process: GatewayProcess) -> GatewayProcess:
    """The gateway, running (tests that need tickets)."""
    if not GatewayProcess.available():
        pytest.skip("the gateway (python -m gateway) is not there yet")
    gateway_process.start()
    return gateway_process


@pytest.fixture
def no_gateway(gateway_process: GatewayProcess) -> GatewayProcess:
    """The gateway stopped: nothing listens on the FastAGI port."""
    gateway_process.stop()
    return gateway_process


@pytest.fixture
async def agi_stub(no_gateway: GatewayProcess, e2e_settings: Settings) -> AsyncIterator[AgiStub]:
    """A stand-in FastAGI server on the gateway's port (for behaviour the gateway must not hide:
    a frozen gateway, chosen priorities)."""
    stub = AgiStub(e2e_settings.fastagi.host, e2e_settings.fastagi.port)
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture(scope="session")
async def sipp(e2e_settings: Settings, asterisk: AsteriskInstance) -> AsyncIterator[SippRunner]:
    workdir = Path(tempfile.mkdtemp(prefix="siaga-e2e-sipp-"))
    runner = SippRunner(workdir, e2e_settings.asterisk.sip_port, port_base=free_port_block())
    for ct in e2e_settings.asterisk.calltakers:
        assert ct.contact is not None
        await runner.start_calltaker(int(ct.contact.rsplit(":", 1)[1]), talk_ms=1500)
    yield runner
    await runner.stop()
    if not os.environ.get("SIAGA_E2E_KEEP"):
        shutil.rmtree(workdir, ignore_errors=True)


def free_port_block() -> int:
    """A base for SIPp's own ports (SIP and media), away from Asterisk's RTP range."""
    return 40000 + (os.getpid() % 500) * 40


@pytest.fixture(scope="session")
async def ami(e2e_settings: Settings, asterisk: AsteriskInstance) -> AsyncIterator[AmiWatch]:
    secret = e2e_settings.ami.secret
    assert secret is not None
    watch = AmiWatch(
        e2e_settings.ami.host,
        e2e_settings.ami.port,
        e2e_settings.ami.username,
        secret.get_secret_value(),
    )
    await watch.start()
    yield watch
    await watch.stop()


@pytest.fixture
def calltakers_paused(asterisk: AsteriskInstance, e2e_settings: Settings) -> Iterator[None]:
    """Every call taker busy (paused) until the test lets them go; always released after."""
    queue = e2e_settings.asterisk.queue
    for ct in e2e_settings.asterisk.calltakers:
        asterisk.cli(f"queue pause member PJSIP/{ct.account} queue {queue}")
    yield
    for ct in e2e_settings.asterisk.calltakers:
        asterisk.cli(f"queue unpause member PJSIP/{ct.account} queue {queue}")


# --- what Asterisk wrote by itself -----------------------------------------------------------
# the columns asterisk_conf/cdr_custom.conf writes: defined once, by the reconciler


def cdr_rows(asterisk: AsteriskInstance) -> list[dict[str, str]]:
    path = asterisk.log_dir / "cdr-custom" / "siaga112.csv"
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [dict(zip(CDR_COLUMNS, row, strict=False)) for row in csv.reader(f)]


async def eventually(check, timeout: float = 20.0, interval: float = 0.25):  # type: ignore[no-untyped-def]
    """Poll ``check`` (sync or async) until it returns a truthy value; fail with its last one."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")
