"""Hostile webhook targets are refused before any connection: internal addresses (unless
allowlisted), other schemes, user info, plain http to hosts not allowlisted."""

from __future__ import annotations

import pytest

from services.dispatch import egress
from services.dispatch.egress import Allowlist, TargetRefused

NONE = Allowlist.parse([])


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.8.9.10:8443/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://100.64.0.1/hook",  # carrier-grade NAT
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",  # multicast
        "https://240.0.0.1/hook",  # reserved
        "https://255.255.255.255/hook",
        "https://[::1]/hook",
        "https://[::]/hook",
        "https://[fc00::1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://[fe80::1]/hook",
        "https://[ff02::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "https://[::ffff:169.254.169.254]/hook",
    ],
)
async def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused) as info:
        await egress.check(url, NONE)
    assert info.value.error_id == "webhook-target-refused"
    assert info.value.status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "ftp://203.0.113.10/hook",
        "file:///etc/passwd",
        "gopher://203.0.113.10/",
        "javascript:alert(1)",
        "//203.0.113.10/hook",
        "https://user:pass@203.0.113.10/hook",
        "https:///nohost",
        "https://203.0.113.10:99999/hook",
        "not a url",
    ],
)
async def test_malformed_urls_and_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        await egress.check(url, NONE)


# A public address for the checks below (these tests never connect anywhere).
PUBLIC = "93.184.215.14"


async def test_documentation_addresses_are_not_public() -> None:
    with pytest.raises(TargetRefused):
        await egress.check("https://203.0.113.10/hook", NONE)


async def test_plain_http_is_refused_for_hosts_not_allowlisted() -> None:
    with pytest.raises(TargetRefused) as info:
        await egress.check(f"http://{PUBLIC}/hook", NONE)
    assert "http" in info.value.details["reason"]


async def test_a_public_https_address_passes_and_is_the_address_connected_to() -> None:
    target = await egress.check(f"https://{PUBLIC}:8443/a/b?x=1", NONE)
    assert target.address == PUBLIC
    assert target.request_url == f"https://{PUBLIC}:8443/a/b?x=1"
    assert target.host_header == f"{PUBLIC}:8443"


async def test_allowlisted_loopback_passes_over_http() -> None:
    allow = Allowlist.parse(["127.0.0.1"])
    target = await egress.check("http://127.0.0.1:8080/hook", allow)
    assert target.address == "127.0.0.1"
    with pytest.raises(TargetRefused):  # only that address: the rest of loopback stays refused
        await egress.check("http://127.0.0.2:8080/hook", allow)


async def test_allowlisted_networks_and_host_names() -> None:
    allow = Allowlist.parse(["10.20.0.0/16", "localhost", "*.opd.example"])
    assert (await egress.check("http://10.20.3.4/h", allow)).address == "10.20.3.4"
    with pytest.raises(TargetRefused):
        await egress.check("https://10.21.0.1/h", allow)
    target = await egress.check("http://localhost:9000/h", allow)  # resolves to loopback
    assert target.host == "localhost" and target.host_header == "localhost:9000"
    assert allow.allows_host("a.opd.example") and not allow.allows_host("opd.example.evil")


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(TargetRefused) as info:
        await egress.check("https://no-such-host.invalid/hook", NONE)
    assert info.value.details["reason"] == "host does not resolve"


async def test_the_request_line_gets_only_printable_ascii() -> None:
    """Spaces, control and non-ASCII characters in the path are percent-encoded (nothing can end
    the request line early or add a header); escapes already there stay as they are."""
    target = await egress.check(f"https://{PUBLIC}/a b/\x00\x0b/ü/%20?q=1 2", NONE)
    assert target.path == "/a%20b/%00%0B/%C3%BC/%20?q=1%202"


@pytest.mark.parametrize("host", ["exa mple.org", "exa\x00mple.org", "a*b.example", "a;b.example"])
async def test_host_names_with_other_characters_are_refused(host: str) -> None:
    with pytest.raises(TargetRefused) as info:
        await egress.check(f"https://{host}/hook", NONE)
    assert info.value.details["reason"] == "not a valid host name"


async def test_an_international_host_name_is_checked_and_sent_in_its_ascii_form() -> None:
    allow = Allowlist.parse(["*.bücher.example"])
    assert allow.allows_host("opd.xn--bcher-kva.example")
    scheme, host, port, path = egress.parse("https://Opd.Bücher.example:8443/hook")
    assert (scheme, host, port, path) == ("https", "opd.xn--bcher-kva.example", 8443, "/hook")
