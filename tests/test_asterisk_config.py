"""Rendering Asterisk's configuration from the settings (no Asterisk needed)."""

from __future__ import annotations

import re
import wave
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr

from core.settings import CallTaker, Settings
from gateway.ami import facts as ami_events
from gateway.ami.consumer import AmiConsumer
from gateway.call_path.fact_writer import FactWriter
from gateway.callbacks import CallbackWorker
from ops.asterisk import (
    CONF_DIR,
    TEMPLATES,
    AsteriskError,
    ami_event_filters,
    render,
    template_values,
)
from tests.conftest import free_port

SECRET = "an-ami-secret-of-some-length"


def _settings(**asterisk: object) -> Settings:
    return Settings(ami={"secret": SECRET}, asterisk=asterisk)


def test_every_template_renders_without_leftover_placeholders() -> None:
    values = template_values(_settings())
    for name in TEMPLATES:
        text = render((CONF_DIR / name).read_text(), values)
        assert "{{" not in text and "}}" not in text, name


def test_an_unknown_placeholder_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(AsteriskError, match="nonsense"):
        render("bind = {{nonsense}}", {})


def test_asterisk_variables_are_left_alone() -> None:
    assert (
        render("${SIAGA_TICKET} $[1 + 1] {{queue}}", {"queue": "q"}) == "${SIAGA_TICKET} $[1 + 1] q"
    )


def test_only_the_carrier_addresses_identify_the_trunk() -> None:
    values = template_values(_settings(carrier_addresses=["192.0.2.10", "198.51.100.0/24"]))
    pjsip = render((CONF_DIR / "pjsip.conf").read_text(), values)
    assert "match = 192.0.2.10,198.51.100.0/24" in pjsip
    carrier = pjsip.split("[carrier]")[1]
    assert "identify_by = ip" in carrier
    assert "[anonymous]" not in pjsip


def test_dialled_numbers_reach_the_112_context() -> None:
    values = template_values(_settings(dialled_numbers=["112", "0215550112"]))
    ext = render((CONF_DIR / "extensions.conf").read_text(), values)
    assert "exten => 112,1,Goto(siaga-112,s,1)" in ext
    assert "exten => 0215550112,1,Goto(siaga-112,s,1)" in ext


def test_call_takers_without_password_cannot_register() -> None:
    settings = _settings(
        calltakers=[
            CallTaker(account="ct1", contact="sip:ct1@127.0.0.1:5070"),
            CallTaker(account="ct9", password=SecretStr("a-long-sip-password")),
        ]
    )
    pjsip = render((CONF_DIR / "pjsip.conf").read_text(), template_values(settings))
    ct1_aor = pjsip.split("[ct1]\ntype = aor")[1].split("\n\n")[0]
    assert "max_contacts = 0" in ct1_aor
    ct9_aor = pjsip.split("[ct9]\ntype = aor")[1].split("\n\n")[0]
    assert "max_contacts = 1" in ct9_aor
    assert "identify_by = auth_username" in pjsip.split("[ct9]")[1]
    assert "context = siaga-calltakers" in pjsip.split("[ct1]")[1]


def test_an_odd_call_taker_account_is_refused() -> None:
    with pytest.raises(AsteriskError, match="call taker account"):
        template_values(_settings(calltakers=[CallTaker(account="ct1]\n[evil")]))


def test_manager_allows_only_the_gateway() -> None:
    settings = Settings(ami={"secret": SECRET, "host": "127.0.0.1"}, fastagi={"host": "127.0.0.1"})
    manager = render((CONF_DIR / "manager.conf").read_text(), template_values(settings))
    assert "bindaddr = 127.0.0.1" in manager
    assert "deny = 0.0.0.0/0.0.0.0" in manager
    assert "permit = 127.0.0.1/255.255.255.255" in manager
    assert f"secret = {SECRET}" in manager


def _never_called(*args: Any) -> Any:
    raise AssertionError("no event reaches a gateway with no Asterisk")


async def _registered_events() -> set[str]:
    """The event names the gateway's AMI client listens for, as its own start-up registers them
    (the AMI consumer, the callback worker, and panoramisk itself); nothing is listening on the
    port, so no event ever arrives."""
    settings = Settings(ami={"secret": SECRET, "port": free_port()})
    idle = FactWriter(write=_never_called, spool=_never_called)
    consumer = AmiConsumer(settings, store=SimpleNamespace(fact_writer=idle), recordings={})  # type: ignore[arg-type]
    consumer.start()
    try:
        gateway: Any = SimpleNamespace(ami=consumer)
        CallbackWorker(gateway)._register()
        assert consumer.manager is not None
        return set(consumer.manager.callbacks)
    finally:
        await consumer.stop(grace_seconds=0.1)


def _filtered_events(manager_conf: str) -> list[str]:
    return re.findall(r"^eventfilter\(action\(include\),name\((\w+)\)\) =$", manager_conf, re.M)


async def test_the_gateway_account_gets_exactly_the_events_the_gateway_listens_for() -> None:
    manager = render((CONF_DIR / "manager.conf").read_text(), template_values(_settings()))
    filtered = _filtered_events(manager)

    registered = await _registered_events()
    assert len(filtered) == len(set(filtered))
    assert "Hangup" in registered and "OriginateResponse" in registered
    # plus Shutdown, which panoramisk reads without a registration (it drops the connection)
    assert set(filtered) == registered | set(ami_events.CLIENT_EVENTS)
    # no other filter line lets anything else through
    assert manager.count("eventfilter") == len(filtered)


def test_an_odd_event_name_never_reaches_manager_conf() -> None:
    with pytest.raises(AsteriskError, match="AMI event name"):
        ami_event_filters(("Hangup", "Hangup) =\n[admin]"))


def test_no_ami_secret_no_configuration() -> None:
    with pytest.raises(AsteriskError, match="AMI secret"):
        template_values(Settings())


def _seconds(wav: str) -> float:
    with wave.open(str(CONF_DIR / "sounds" / "id" / wav)) as w:
        return w.getnframes() / w.getframerate()


def test_queue_announcements_are_short_and_end_without_a_thank_you() -> None:
    """A caller hearing a position announcement cannot be put through until it ends, even to a
    free call taker: each announcement (prompt, number, prompt) stays about two seconds."""
    queues = render((CONF_DIR / "queues.conf").read_text(), template_values(_settings()))
    options = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition("=") for line in queues.splitlines())
        if _ and not k.lstrip().startswith(";")
    )
    thanks = options["queue-thankyou"]
    assert _seconds(f"{thanks}.wav") < 0.1
    assert options["announce-holdtime"] == "no"
    for position in ("2", "9", "17"):
        total = sum(
            _seconds(f"{name}.wav")
            for name in ("queue-thereare", f"digits/{position}", "queue-callswaiting")
        )
        assert total < 3.0, (position, total)
    assert _seconds("queue-youarenext.wav") < 3.0
