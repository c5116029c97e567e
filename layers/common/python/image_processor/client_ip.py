"""The client address the platform vouches for, and the key the rate limiter counts it under."""

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

from .settings import IPNetwork

IPAddress = IPv4Address | IPv6Address


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[IPNetwork]) -> str | None:
    """The socket peer, or, when the peer is a trusted proxy, the right-most untrusted X-Forwarded-For hop.

    Under Lambda the peer is API Gateway's `requestContext.identity.sourceIp` (Mangum puts it in
    the ASGI scope), so a header sent by the client can never replace it.
    """
    peer_address = _parse(peer)
    if peer_address is None:
        return None
    if not forwarded_for or not _is_trusted(peer_address, trusted_proxies):
        return str(peer_address)
    hops = [_parse(hop) for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        if hop is None:
            break
        if not _is_trusted(hop, trusted_proxies):
            return str(hop)
    return str(peer_address)


def rate_limit_key(address: str) -> str:
    """IPv4 addresses count alone; IPv6 clients are counted per /64, the block one subscriber gets."""
    parsed = _parse(address)
    if isinstance(parsed, IPv6Address):
        return str(IPv6Network((parsed, 64), strict=False))
    return str(parsed) if parsed is not None else address


def _parse(value: str | None) -> IPAddress | None:
    if not value:
        return None
    try:
        parsed = ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def _is_trusted(address: IPAddress, trusted_proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in trusted_proxies)
