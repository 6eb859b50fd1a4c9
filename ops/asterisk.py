"""Asterisk for Siaga112: the root it runs from, its configuration, one running instance.

- ``python -m ops.asterisk ensure-root`` builds the Asterisk root (Debian's asterisk in a
  debootstrap chroot) once, and does nothing in host mode.
- :class:`AsteriskInstance` renders ``asterisk_conf/`` from the settings into an instance folder
  (its own etc/, run/, spool/, log/, recordings/), starts Asterisk on it, runs CLI commands, and
  stops it. Several instances (the centre's, a test run's) share one root side by side.

Templates use ``{{name}}`` placeholders, which cannot clash with Asterisk's ``${...}``
and ``$[...]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.settings import CallTaker, Settings, get_settings
from gateway.ami.facts import SUBSCRIBED

log = logging.getLogger(__name__)

CONF_DIR = Path(__file__).resolve().parent.parent / "asterisk_conf"
SOUNDS_DIR = CONF_DIR / "sounds"
TEMPLATES = (
    "asterisk.conf",
    "modules.conf",
    "logger.conf",
    "rtp.conf",
    "pjsip.conf",
    "extensions.conf",
    "queues.conf",
    "manager.conf",
    "cdr.conf",
    "cdr_custom.conf",
)
# Files Asterisk reads at start-up that Siaga112 leaves at their defaults (empty, but present).
EMPTY_CONFIGS = (
    "ccss.conf",
    "cel.conf",
    "features.conf",
    "indications.conf",
    "acl.conf",
    "udptl.conf",
    "pjproject.conf",
    "queuerules.conf",
    "musiconhold.conf",
)
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
MODULE_DIRS = (  # where Debian (any architecture) and source builds put Asterisk's modules
    "/usr/lib/x86_64-linux-gnu/asterisk/modules",
    "/usr/lib/aarch64-linux-gnu/asterisk/modules",
    "/usr/lib/asterisk/modules",
    "/usr/lib64/asterisk/modules",
)
SYSTEM_DATA_DIR = "/usr/share/asterisk"
# Talk detection for the silent-call step (BackgroundDetect): talk must last this long, then be
# followed by this much silence, to count as speech.
TALK_MIN_MS = 100
TALK_SILENCE_MS = 300


class AsteriskError(RuntimeError):
    pass


def render(text: str, values: dict[str, str]) -> str:
    """Fill ``{{name}}`` placeholders; an unknown name is an error, never an empty string."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise AsteriskError(f"template placeholder {{{{{name}}}}} has no value")
        return values[name]

    return PLACEHOLDER.sub(fill, text)


def _sip_host(contact: str) -> str:
    return contact.split("@", 1)[-1].split(";", 1)[0]


def _calltaker_sections(calltaker: CallTaker) -> str:
    name = calltaker.account
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise AsteriskError(f"call taker account {name!r}: use letters, digits, '.', '_', '-'")
    lines = [
        f"[{name}]",
        "type = endpoint",
        "transport = siaga-udp",
        "context = siaga-calltakers",
        "disallow = all",
        "allow = alaw,ulaw",
        "direct_media = no",
        "send_connected_line = no",
        "rtp_symmetric = yes",
        "dtmf_mode = rfc4733",
        f"aors = {name}",
    ]
    if calltaker.password is not None:
        lines += [f"auth = {name}", "identify_by = auth_username"]
    else:
        lines += ["identify_by = username"]
    lines += ["", f"[{name}]", "type = aor"]
    if calltaker.contact:
        lines.append(f"contact = {calltaker.contact}")
    # Registration only with a password: an account without one rings its static contact only.
    lines.append(f"max_contacts = {1 if calltaker.password is not None else 0}")
    lines.append("remove_existing = yes")
    if calltaker.password is not None:
        lines += [
            "",
            f"[{name}]",
            "type = auth",
            "auth_type = userpass",
            f"username = {name}",
            f"password = {calltaker.password.get_secret_value()}",
        ]
    return "\n".join(lines) + "\n"


def ami_event_filters(events: tuple[str, ...] = SUBSCRIBED) -> str:
    """manager.conf lines letting only ``events`` through to the gateway's AMI session (matched on
    the event name's hash, no regular expression run per event)."""
    for name in events:
        if not re.fullmatch(r"[A-Za-z0-9]+", name):
            raise AsteriskError(f"AMI event name {name!r}: letters and digits only")
    return "\n".join(f"eventfilter(action(include),name({name})) =" for name in events)


def module_dir(settings: Settings) -> str:
    """Asterisk's module folder (as Asterisk sees it) in the root or on the host."""
    for candidate in MODULE_DIRS:
        if (settings.asterisk_host_path(candidate) / "chan_pjsip.so").exists():
            return candidate
    return MODULE_DIRS[0]


def template_values(settings: Settings) -> dict[str, str]:
    a = settings.asterisk
    if settings.ami.secret is None:
        raise AsteriskError("the AMI secret is not set (SIAGA_AMI__SECRET)")
    dialled = "\n".join(f"exten => {n},1,Goto(siaga-112,s,1)" for n in a.dialled_numbers)
    members = "\n".join(
        f"member => PJSIP/{ct.account},0,{ct.account},PJSIP/{ct.account}" for ct in a.calltakers
    )
    return {
        "instance_dir": a.instance_dir.rstrip("/"),
        "module_dir": module_dir(settings),
        "language": a.language,
        "full_log": "full.log => notice,warning,error,verbose(3),dtmf"
        if os.environ.get("SIAGA_ASTERISK_FULL_LOG")
        else "",
        "rtp_start": str(a.rtp_start),
        "rtp_end": str(a.rtp_end),
        "sip_bind": a.sip_bind,
        "sip_port": str(a.sip_port),
        "carrier_match": ",".join(a.carrier_addresses),
        "carrier_contact": f"contact = {a.carrier_contact}" if a.carrier_contact else "",
        "calltakers": "\n".join(_calltaker_sections(ct) for ct in a.calltakers),
        "queue": a.queue,
        "queue_members": members,
        "dialled_extensions": dialled,
        "recordings_dir": settings.recordings_dir,
        "agi_bound_seconds": str(a.agi_bound_seconds),
        "fastagi_host": settings.fastagi.host,
        "fastagi_port": str(settings.fastagi.port),
        "talk_silence_ms": str(TALK_SILENCE_MS),
        "talk_min_ms": str(TALK_MIN_MS),
        "ami_host": settings.ami.host,
        "ami_port": str(settings.ami.port),
        "ami_username": settings.ami.username,
        "ami_secret": settings.ami.secret.get_secret_value(),
        "ami_permit": settings.fastagi.host,
        "ami_event_filters": ami_event_filters(),
    }


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


def ensure_root(settings: Settings) -> None:
    """Build the Asterisk root with debootstrap unless it exists (or the mode is host)."""
    a = settings.asterisk
    if a.mode == "host":
        return
    if (a.root / "usr/sbin/asterisk").exists():
        return
    if os.geteuid() != 0:
        raise AsteriskError("building the Asterisk root needs root (debootstrap, chroot)")
    a.root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".asterisk-root-", dir=a.root.parent))
    print(f"siaga112: building the Asterisk root in {a.root} (debootstrap, a few minutes)")
    try:
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=asterisk,asterisk-modules,asterisk-core-sounds-en",
                "sid",
                str(tmp),
            ]
        )
        os.replace(tmp, a.root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class AsteriskInstance:
    """One Asterisk process on its own instance folder (as Asterisk sees it: ``instance_dir``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.chroot = settings.asterisk.mode == "chroot"
        self.instance_dir = settings.asterisk.instance_dir.rstrip("/")
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    # --- paths -----------------------------------------------------------------------------
    def host_path(self, path_in_asterisk: str = "") -> Path:
        """Where a path Asterisk sees lives on this host (``""``: the instance folder)."""
        return self.settings.asterisk_host_path(path_in_asterisk or self.instance_dir)

    @property
    def config_file(self) -> str:
        return f"{self.instance_dir}/etc/asterisk.conf"

    @property
    def recordings(self) -> Path:
        return self.host_path(self.settings.recordings_dir)

    @property
    def log_dir(self) -> Path:
        return self.host_path(f"{self.instance_dir}/log")

    def _command(self, *args: str) -> list[str]:
        cmd = ["/usr/sbin/asterisk", "-C", self.config_file, *args]
        return ["chroot", str(self.settings.asterisk.root), *cmd] if self.chroot else cmd

    # --- preparing -------------------------------------------------------------------------
    def _mount(self) -> None:
        root = self.settings.asterisk.root
        for target, mount in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
            path = root / target
            if subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode != 0:
                _run(["mount", *mount, str(path)])

    def _link_data_dir(self) -> None:
        """``astdatadir`` of the instance: the system's data, plus Siaga112's prompts (``id``)."""
        data = self.host_path(f"{self.instance_dir}/data")
        sounds = data / "sounds"
        sounds.mkdir(parents=True, exist_ok=True)
        system = self.host_path(SYSTEM_DATA_DIR)
        for entry in system.iterdir() if system.exists() else ():
            if entry.name == "sounds":
                continue
            link = data / entry.name
            if not link.is_symlink() and not link.exists():
                link.symlink_to(f"{SYSTEM_DATA_DIR}/{entry.name}")
        system_sounds = system / "sounds"
        for entry in system_sounds.iterdir() if system_sounds.exists() else ():
            link = sounds / entry.name
            if entry.name != "id" and not link.is_symlink() and not link.exists():
                link.symlink_to(f"{SYSTEM_DATA_DIR}/sounds/{entry.name}")
        ours = sounds / "id"
        if ours.is_symlink():
            ours.unlink()
        shutil.copytree(SOUNDS_DIR / "id", ours, dirs_exist_ok=True)

    def prepare(self) -> None:
        """Render the configuration and create the instance's folders."""
        values = template_values(self.settings)
        base = self.host_path()
        for sub in (
            "etc",
            "run",
            "spool",
            "log",
            "log/cdr-custom",
            "lib",
            "cache",
            "agi-bin",
            "recordings",
        ):
            (base / sub).mkdir(parents=True, exist_ok=True)
        etc = base / "etc"
        for name in TEMPLATES:
            target = etc / name
            target.write_text(render((CONF_DIR / name).read_text(), values))
            target.chmod(0o600 if name in ("manager.conf", "pjsip.conf") else 0o644)
        for name in EMPTY_CONFIGS:
            (etc / name).write_text("; defaults\n")
        self._link_data_dir()

    # --- running ---------------------------------------------------------------------------
    def running(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        result = subprocess.run(
            self._command("-rx", "core show uptime"), capture_output=True, check=False
        )
        return result.returncode == 0

    def start(self, timeout: float = 60.0) -> None:
        """Start Asterisk in the foreground (as a child) and wait until it is fully booted."""
        if self.chroot:
            ensure_root(self.settings)
            self._mount()
        self.prepare()
        stale = self.host_path(f"{self.instance_dir}/run/asterisk.ctl")
        stale.unlink(missing_ok=True)
        messages = self.log_dir / "messages.log"
        self._log_offset = messages.stat().st_size if messages.exists() else 0
        out = (self.log_dir / "asterisk.out").open("ab")
        self.process = subprocess.Popen(
            self._command("-f", "-n", "-q"),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AsteriskError(
                    f"Asterisk exited with {self.process.returncode}; see {self.log_dir}"
                )
            result = subprocess.run(
                self._command("-rx", "core waitfullybooted"),
                capture_output=True,
                check=False,
                timeout=timeout,
            )
            if result.returncode == 0:
                self._check_listening()
                log.info("Asterisk fully booted (instance %s)", self.instance_dir)
                return
            time.sleep(0.2)
        self.stop()
        raise AsteriskError(f"Asterisk did not boot within {timeout} s; see {self.log_dir}")

    def _check_listening(self) -> None:
        """Asterisk boots even when a port is taken: refuse that, it would take no calls."""
        problems = []
        try:
            self.cli("pjsip show transport siaga-udp")
        except AsteriskError:
            problems.append(f"SIP port {self.settings.asterisk.sip_port}")
        messages = self.log_dir / "messages.log"
        text = ""
        if messages.exists():
            with messages.open("rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode(errors="replace")
        if "Unable to bind AMI" in text:
            problems.append(f"AMI port {self.settings.ami.port}")
        if problems:
            self.stop()
            raise AsteriskError(f"Asterisk could not listen on {', '.join(problems)} (in use?)")

    def cli(self, command: str, timeout: float = 15.0) -> str:
        """Run one Asterisk CLI command on this instance and return its output."""
        result = subprocess.run(
            self._command("-rx", command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AsteriskError(f"CLI {command!r} failed: {result.stderr.strip()}")
        return result.stdout

    def stop(self, timeout: float = 20.0) -> None:
        """Stop now (calls are cut; the caller decides when that is acceptable)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            subprocess.run(
                self._command("-rx", "core stop now"),
                capture_output=True,
                check=False,
                timeout=timeout,
            )
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        self.process = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.asterisk")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ensure-root", help="build the Asterisk root unless it exists")
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        if args.command == "ensure-root":
            ensure_root(settings)
    except (AsteriskError, subprocess.CalledProcessError) as exc:
        print(f"siaga112: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
