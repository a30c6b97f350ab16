"""Which IP addresses a fetched link may reach: public unicast only.

Refused, with the reason a person can read: loopback, private (RFC 1918, IPv6 ULA), link-local
(169.254.0.0/16, the cloud metadata service 169.254.169.254, fe80::/10), shared CGNAT space
(100.64.0.0/10), multicast, unspecified, reserved and documentation ranges, and IPv6 forms that
carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, 6to4 2002::/16, NAT64 64:ff9b::/96, Teredo),
judged by the address they carry. `allow` lets tests reach a local server that plays a public site.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA = ipaddress.ip_address("169.254.169.254")
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def parse_ip(host: str) -> IPAddress | None:
    """The address when `host` is an IP literal ("[::1]" included), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AddressPolicy:
    allow: Sequence[Network] = ()

    def refusal(self, ip: IPAddress) -> str | None:
        """Why `ip` may not be fetched, or None when it may."""
        if any(ip.version == net.version and ip in net for net in self.allow):
            return None
        if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
            why = self.refusal(inner)
            return f"{ip} carries {inner}: {why}" if why else None
        return _why_not_public(ip)


def _why_not_public(ip: IPAddress) -> str | None:
    if ip.is_loopback:
        return f"{ip} is a loopback address (this machine)"
    if ip == METADATA:
        return f"{ip} is the cloud metadata service (link-local)"
    if ip.is_link_local:
        return f"{ip} is a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
        return f"{ip} is in the shared carrier-grade NAT range"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_unspecified:
        return f"{ip} is the unspecified address"
    if ip.is_private:
        return f"{ip} is a private network address"
    if ip.is_reserved or not ip.is_global:
        return f"{ip} is not a public address"
    return None
