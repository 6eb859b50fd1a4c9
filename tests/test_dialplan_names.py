"""The dialplan and the gateway agree on every channel variable they exchange."""

from __future__ import annotations

import re
from pathlib import Path

from core.names import TRIAGE_USER_EVENT, DialplanVar, TalkResult

CONF = Path(__file__).resolve().parent.parent / "asterisk_conf"


def _siaga_names(text: str) -> set[str]:
    return set(re.findall(r"\bSIAGA_[A-Z0-9_]+\b", text))


def test_every_siaga_variable_in_the_dialplan_is_a_dialplan_var() -> None:
    used = _siaga_names((CONF / "extensions.conf").read_text())
    assert used, "the dialplan uses no SIAGA_* variable: wrong file?"
    assert used <= {v.value for v in DialplanVar}, used - {v.value for v in DialplanVar}


def test_the_dialplan_sets_every_variable_the_gateway_answers() -> None:
    text = (CONF / "extensions.conf").read_text()
    for var in (
        DialplanVar.TICKET,
        DialplanVar.QUEUE,
        DialplanVar.PRIORITY,
        DialplanVar.RECORDING,
        DialplanVar.TRIAGE,
        DialplanVar.CALLER,
    ):
        assert re.search(rf"Set\({var.value}=", text), f"{var.value} has no default in the dialplan"


def test_the_detector_finds_names_the_enum_lacks() -> None:
    assert _siaga_names("Set(SIAGA_NOT_DEFINED=1) ${SIAGA_TICKET}") == {
        "SIAGA_NOT_DEFINED",
        "SIAGA_TICKET",
    }


def test_the_triage_user_event_carries_the_shared_names() -> None:
    text = (CONF / "extensions.conf").read_text()
    results = set(re.findall(rf"UserEvent\({TRIAGE_USER_EVENT},Result: (\w+),", text))
    assert results == {r.value for r in TalkResult}
