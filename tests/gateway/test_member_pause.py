"""Call takers' pause state from AMI's queue member events, odd ones included."""

from __future__ import annotations

import pytest

from gateway.ami.facts import member_pause


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"Event": "QueueMemberPause", "Interface": "PJSIP/ct1", "Paused": "1"}, ("ct1", True)),
        ({"Event": "QueueMemberPause", "Interface": "PJSIP/ct1", "Paused": "0"}, ("ct1", False)),
        ({"Event": "QueueMember", "StateInterface": "PJSIP/ct2", "Paused": "1"}, ("ct2", True)),
        ({"Event": "QueueMemberAdded", "MemberName": "ct3", "Paused": "0"}, ("ct3", False)),
    ],
)
def test_member_events_say_who_is_paused(event: dict[str, str], expected: tuple[str, bool]) -> None:
    assert member_pause(event) == expected


@pytest.mark.parametrize(
    "event",
    [
        {"Event": "QueueMemberPause", "Interface": "PJSIP/ct1"},  # no Paused field
        {"Event": "QueueMemberPause", "Interface": "PJSIP/ct1", "Paused": "yes"},
        {"Event": "QueueMemberPause", "Paused": "1"},  # no member at all
        {"Event": "Hangup", "Interface": "PJSIP/ct1", "Paused": "1"},  # not a member event
        # device state changes (ringing, in use) repeat the pause state: not subscribed
        {"Event": "QueueMemberStatus", "MemberName": "ct3", "Paused": "0"},
        {},
    ],
)
def test_odd_member_events_are_ignored(event: dict[str, str]) -> None:
    assert member_pause(event) is None
