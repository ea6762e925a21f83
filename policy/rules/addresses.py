"""IP range reasoning shared by the network, AKS and PostgreSQL rules.

"Open to the internet" is decided by coverage, not by spelling: 0.0.0.0/0, ::/0, two /1 halves,
or 0.0.0.0/0 minus only private ranges all leave every public address reachable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ranges that are not reachable from the internet (RFC 1918, CGNAT, loopback, link-local,
# multicast and reserved). Everything else counts as public.
_NON_PUBLIC_V4 = tuple(
    ipaddress.IPv4Network(cidr)
    for cidr in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
_NON_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(cidr) for cidr in ("::/8", "fc00::/7", "fe80::/10", "ff00::/8")
)


def parse_network(value: object) -> Network | None:
    """A CIDR or bare address as a network; None when it is not one (never guessed)."""
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


def _subtract(remaining: list[Network], taken: Network) -> list[Network]:
    result: list[Network] = []
    for network in remaining:
        if network.version != taken.version or not network.overlaps(taken):
            result.append(network)
        elif network.subnet_of(taken):  # type: ignore[arg-type]
            continue
        else:
            result.extend(network.address_exclude(taken))  # type: ignore[arg-type]
    return result


def subtract(networks: Iterable[Network], taken: Iterable[Network]) -> list[Network]:
    remaining = list(networks)
    for network in taken:
        remaining = _subtract(remaining, network)
    return remaining


def _public_space(version: int) -> list[Network]:
    if version == 4:
        return subtract([ipaddress.IPv4Network("0.0.0.0/0")], _NON_PUBLIC_V4)
    return subtract([ipaddress.IPv6Network("::/0")], _NON_PUBLIC_V6)


def covers_public_internet(networks: Iterable[Network]) -> bool:
    """Whether these ranges together admit every public IPv4 or every public IPv6 address."""
    found = list(networks)
    return any(
        not subtract(_public_space(version), [n for n in found if n.version == version])
        for version in (4, 6)
        if any(n.version == version for n in found)
    )


def is_public(network: Network) -> bool:
    """Whether any address of the range is public (reachable from the internet)."""
    space = _NON_PUBLIC_V4 if network.version == 4 else _NON_PUBLIC_V6
    return bool(subtract([network], space))


__all__ = ["Network", "covers_public_internet", "is_public", "parse_network", "subtract"]
