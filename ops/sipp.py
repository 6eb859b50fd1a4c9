"""SIPp as the carrier (citizens calling 112, with RTP audio) and as the call takers' phones.

Scenarios are written per run from the templates below, so each test says plainly what its
callers do: speak (play recorded speech), press a key, stay silent; hang up after a while or wait
for the centre to hang up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

SPEECH = "/usr/share/sip-tester/g711a.pcap"  # about 7 s of speech, PCMA
KEY_1 = "/usr/share/sip-tester/dtmf_2833_1.pcap"

_SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
"""

_CARRIER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="siaga112 carrier">
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field1]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:[field0]@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="{expect}" rrs="true"/>
{after_answer}
</scenario>
"""

_ACK = """  <send>
    <![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field1]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: sip:[field0]@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
"""

_PLAY = """  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
"""

_CALLER_HANGS_UP = """  <pause milliseconds="{ms}"/>
  <send retrans="500">
    <![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field1]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: sip:[field0]@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""

_CENTRE_HANGS_UP = """  <recv request="BYE"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

    ]]>
  </send>
"""

_REFUSED_ACK = """  <send>
    <![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field1]" <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0

    ]]>
  </send>
"""

_CALLTAKER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="siaga112 call taker">
  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="callee"/>
    </action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="{ring_ms}"/>
  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

{sdp}
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <pause milliseconds="{talk_ms}"/>
  <send retrans="500">
    <![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$callee];tag=[pid]SIPpTag01[call_number]
To: [$caller]
[last_Call-ID:]
CSeq: 1 BYE
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
</scenario>
"""


def carrier_scenario(audio: str | None, hangup_after_ms: int | None) -> str:
    """A citizen's call: ``audio`` to play after the answer (or silence); hang up after
    ``hangup_after_ms`` (a caller giving up) or wait for the centre to end the call."""
    after = _ACK + (_PLAY.format(pcap=audio) if audio else "")
    if hangup_after_ms is None:
        after += _CENTRE_HANGS_UP
    else:
        after += _CALLER_HANGS_UP.format(ms=hangup_after_ms)
    return _CARRIER.format(sdp=_SDP, expect="200", after_answer=after)


def refused_scenario() -> str:
    """A call the centre must refuse: a 401 or 403 ends it (and counts as passed)."""
    text = _CARRIER.format(sdp=_SDP, expect="401", after_answer=_REFUSED_ACK)
    # 401 (no endpoint matched) or 403 are both refusals; a 200 fails the scenario
    return text.replace(
        '<recv response="401" rrs="true"/>',
        '<recv response="403" optional="true" next="ack"/>\n  <recv response="401"/>\n'
        '  <label id="ack"/>',
    )


def calltaker_scenario(ring_ms: int = 300, talk_ms: int = 2000) -> str:
    return _CALLTAKER.format(sdp=_SDP, ring_ms=ring_ms, talk_ms=talk_ms)


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class SippRunner:
    """Writes scenarios and runs SIPp against one Asterisk instance."""

    def __init__(self, workdir: Path, sip_port: int, port_base: int) -> None:
        self.workdir = workdir
        self.sip_port = sip_port
        self._next_port = port_base  # each SIPp process gets its own SIP and media ports
        self._background: list[asyncio.subprocess.Process] = []
        self._runs = 0

    def _ports(self) -> tuple[int, int]:
        sip, media = self._next_port, self._next_port + 2
        self._next_port += 10
        return sip, media

    def _write(self, name: str, text: str) -> Path:
        self._runs += 1
        path = self.workdir / f"{self._runs:03d}-{name}"
        path.write_text(text)
        return path

    async def call(
        self,
        callers: list[str],
        *,
        audio: str | None = SPEECH,
        hangup_after_ms: int | None = None,
        source_ip: str = "127.0.0.2",
        dialled: str = "112",
        rate: int = 10,
        scenario: str | None = None,
        timeout_s: int = 120,
    ) -> SippResult:
        """Place one call per entry of ``callers`` (caller numbers) at once, from ``source_ip``."""
        text = scenario or carrier_scenario(audio, hangup_after_ms)
        sf = self._write("carrier.xml", text)
        inf = self._write(
            "callers.csv", "SEQUENTIAL\n" + "".join(f"{c};Warga {c}\n" for c in callers)
        )
        sip_port, media_port = self._ports()
        cmd = [
            "sipp",
            f"127.0.0.1:{self.sip_port}",
            "-sf",
            str(sf),
            "-inf",
            str(inf),
            "-s",
            dialled,
            "-i",
            source_ip,
            "-p",
            str(sip_port),
            "-mi",
            source_ip,
            "-mp",
            str(media_port),
            "-m",
            str(len(callers)),
            "-l",
            str(len(callers)),
            "-r",
            str(rate),
            "-timeout",
            f"{timeout_s}s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(sf.with_suffix(".errors")),
        ]
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=self.workdir
        )
        out, err = await proc.communicate()
        return SippResult(
            proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
        )

    async def start_calltaker(
        self, contact_port: int, *, ring_ms: int = 300, talk_ms: int = 2000
    ) -> None:
        """A call taker's phone answering on 127.0.0.1:``contact_port`` until the run ends."""
        sf = self._write(f"calltaker-{contact_port}.xml", calltaker_scenario(ring_ms, talk_ms))
        _, media_port = self._ports()
        cmd = [
            "sipp",
            "-sf",
            str(sf),
            "-i",
            "127.0.0.1",
            "-p",
            str(contact_port),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(media_port),
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(sf.with_suffix(".errors")),
        ]
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,
        )
        self._background.append(proc)

    async def stop(self) -> None:
        for proc in self._background:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 5)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    await proc.wait()
        self._background.clear()
