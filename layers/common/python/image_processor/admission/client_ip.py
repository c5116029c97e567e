"""The client address the platform vouches for, and the key the rate limiter counts it under."""

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

from ..settings import IPNetwork

IPAddress = IPv4Address | IPv6Address


def client_address(peer: str | None, forwarded_for: list[str], trusted_proxies: Sequence[IPNetwork]) -> str | None:
    """The socket peer, or, when the peer is a trusted proxy, the right-most untrusted X-Forwarded-For hop.

    `forwarded_for` is every X-Forwarded-For line in the order received: a proxy that appends its own
    line rather than extending the client's makes the lines one list (RFC 9110, 5.3), and the client's
    line is then the left part, which is never believed.

    Under Lambda the peer is API Gateway's `requestContext.identity.sourceIp` (Mangum puts it in
    the ASGI scope), so a header sent by the client can never replace it.
    """
    peer_address = _parse(peer)
    if peer_address is None:
        return None
    hops = [_parse(hop) for line in forwarded_for for hop in line.split(",")]
    if not hops or not _is_trusted(peer_address, trusted_proxies):
        return str(peer_address)
    for hop in reversed(hops):
        if hop is None:
            break
        if not _is_trusted(hop, trusted_proxies):
            return str(hop)
    return str(peer_address)


def is_trusted_proxy(peer: str | None, trusted_proxies: Sequence[IPNetwork]) -> bool:
    address = _parse(peer)
    return address is not None and _is_trusted(address, trusted_proxies)


DEFAULT_IPV6_PREFIX = 56
IPV6_SITE_PREFIX = 48


def rate_limit_key(address: str, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """IPv4 addresses count alone. IPv6 clients are counted per `ipv6_prefix` block (a /56 by default: ISPs
    delegate a /56 or a /48 to one subscriber, who could otherwise rotate through 256 /64s); 6to4 and Teredo
    addresses count as the IPv4 address they carry, since every IPv4 host has a 6to4 /48 of its own."""
    parsed = _parse(address)
    if isinstance(parsed, IPv6Address):
        embedded = _embedded_ipv4(parsed)
        if embedded is not None:
            return str(embedded)
        return str(IPv6Network((parsed, ipv6_prefix), strict=False))
    return str(parsed) if parsed is not None else address


def ipv6_site_key(address: str) -> str | None:
    """The /48 of a native IPv6 address (the most a site is delegated), for the second, larger limit;
    None for IPv4 and for addresses that carry one."""
    parsed = _parse(address)
    if not isinstance(parsed, IPv6Address) or _embedded_ipv4(parsed) is not None:
        return None
    return str(IPv6Network((parsed, IPV6_SITE_PREFIX), strict=False))


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def _parse(value: str | None) -> IPAddress | None:
    """An address alone, with a port (`192.0.2.1:5555`), or IPv6 in brackets, with or without one (`[::1]:443`)."""
    if not value:
        return None
    host = _without_port(value.strip())
    try:
        parsed = ip_address(host)
    except ValueError:
        return None
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _without_port(hop: str) -> str:
    if hop.startswith("["):
        host, bracket, rest = hop[1:].partition("]")
        return host if bracket and (not rest or _is_port(rest)) else hop
    if hop.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has at least two colons
        host, _, port = hop.partition(":")
        return host if _is_port(":" + port) else hop
    return hop


def _is_port(suffix: str) -> bool:
    return suffix.startswith(":") and suffix[1:].isdigit() and int(suffix[1:]) <= 65535


def _is_trusted(address: IPAddress, trusted_proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in trusted_proxies)
