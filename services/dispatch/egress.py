"""Where webhooks may go: target URLs are checked at registration and again before every send.

Only ``https`` (``http`` for allowlisted hosts) with no user info; the host is resolved and every
address must be a public one, unless the host name, the address or a network containing it is in
``settings.webhooks.allowlist`` (entries: ``203.0.113.7``, ``10.20.0.0/16``, ``opd.example.go.id``,
``*.example.go.id``). The sender then connects to the address checked here (the URL's host goes in
the ``Host`` header and TLS server name), so a name that re-resolves elsewhere between check and
connect (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from core.errors import SiagaError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_PATH_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))  # printable ASCII stays as written


class TargetRefused(SiagaError):
    status_code = 422
    error_id = "webhook-target-refused"


@dataclass(frozen=True, slots=True)
class Allowlist:
    networks: tuple[IPNetwork, ...] = ()
    hosts: tuple[str, ...] = ()  # lower case; "*.example.org" matches subdomains

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        networks: list[IPNetwork] = []
        hosts: list[str] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.append(_ascii_host(entry.rstrip(".")))
        return cls(tuple(networks), tuple(hosts))

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for entry in self.hosts:
            if entry == host or (entry.startswith("*.") and host.endswith(entry[1:])):
                return True
        return False

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)


@dataclass(frozen=True, slots=True)
class Target:
    """A checked destination: connect to ``address``, present ``host``."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # path and query
    address: str

    @property
    def request_url(self) -> str:
        ip = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{ip}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"


def _refuse(url: str, reason: str) -> TargetRefused:
    return TargetRefused(
        f"Alamat webhook ditolak / webhook target refused: {reason}",
        {"url": url, "reason": reason},
    )


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path+query) of an absolute http(s) URL, or TargetRefused."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise _refuse(url, "not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _refuse(url, "only https (or http for allowlisted hosts) is allowed")
    if parts.username is not None or parts.password is not None:
        raise _refuse(url, "user info in the URL is not allowed")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse(url, "the URL has no host")
    if _address(host) is None:
        host = _ascii_host(host)
        if not _HOST_NAME.fullmatch(host):
            raise _refuse(url, "not a valid host name")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # what goes on the request line: spaces, control and non-ASCII characters percent-encoded
    return scheme, host, port or DEFAULT_PORTS[scheme], quote(path, safe=_PATH_SAFE)


def _ascii_host(name: str) -> str:
    """A host name as it goes on the wire (IDNA); unchanged when it cannot be encoded."""
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast; refuses loopback, private, link-local (cloud metadata),
    shared, reserved, unspecified and multicast, also inside IPv4-mapped IPv6."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def check_address(url: str, host: str, address: IPAddress, allowlist: Allowlist) -> None:
    if allowlist.allows_host(host) or allowlist.allows_address(address):
        return
    if not is_public(address):
        raise _refuse(url, f"{address} is not a public address")


async def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(
            f"Nama host tidak ditemukan / host does not resolve: {host}",
            {"host": host, "reason": "host does not resolve"},
        ) from exc
    addresses: list[IPAddress] = []
    for info in infos:
        found = _address(str(info[4][0]))
        if found is not None and found not in addresses:
            addresses.append(found)
    return addresses


async def check(url: str, allowlist: Allowlist) -> Target:
    """Parse, resolve and check ``url``; the Target names the address to connect to."""
    scheme, host, port, path = parse(url)
    addresses = await _resolve(host, port)
    if not addresses:
        raise _refuse(url, "host has no address")
    for address in addresses:  # every address: a name must not mix public and internal ones
        check_address(url, host, address, allowlist)
    if scheme == "http" and not (
        allowlist.allows_host(host) or all(allowlist.allows_address(a) for a in addresses)
    ):
        raise _refuse(url, "plain http is only allowed for allowlisted hosts")
    return Target(url, scheme, host, port, path, str(addresses[0]))
