"""Which callback URLs the service may POST to (WEBHOOK_URL_PREFIXES), and where they may lead.

A URL is allowed when it starts with a configured prefix, compared part by part (scheme, host, port, then
the path as a prefix), so `https://hooks.example.com` never admits `https://hooks.example.com.evil.net`.
It must be https, or plain http to a loopback address that a prefix names. When it is sent, every
address the host resolves to must be public; a private, loopback or link-local answer is refused unless
the prefix names that very address (an IP literal, or `localhost`). The request then goes to the address
checked, so a second DNS answer cannot redirect it (no SSRF by rebinding).
"""

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from ..errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[IPAddress]]
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_URL_CHARS = 2048


class TargetRefused(Exception):
    """The URL may not be called (now): the reason is recorded as the delivery's last status."""


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    address: IPAddress
    port: int
    scheme: str

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name (the Host header keeps the name)."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return parts._replace(netloc=f"{literal}:{self.port}").geturl()


def system_resolver(host: str, port: int) -> list[IPAddress]:
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(answer[4][0]).split("%")[0]) for answer in answers]


class WebhookPolicy:
    def __init__(self, prefixes: Sequence[str], *, resolver: Resolver = system_resolver) -> None:
        self._prefixes = [_parse_prefix(prefix) for prefix in prefixes]
        self._resolve = resolver

    @property
    def enabled(self) -> bool:
        return bool(self._prefixes)

    def check(self, url: str) -> str:
        """`url` if a client may ask for it as its callback_url; InvalidRequest (422) saying why not."""
        if not self.enabled:
            raise InvalidRequest(
                "callback_url is not accepted: webhooks are off on this service (WEBHOOK_URL_PREFIXES is empty).",
                field="callback_url",
            )
        try:
            self._matching(url)
        except TargetRefused as exc:
            raise InvalidRequest(f"callback_url {exc}", field="callback_url") from exc
        return url

    def resolve(self, url: str) -> Target:
        """Where to send now: the URL's host resolved and every answer checked; TargetRefused if not allowed."""
        parts, prefix = self._matching(url)
        host = parts.hostname or ""
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        try:
            addresses = self._resolve(host, port)
        except (OSError, ValueError) as exc:
            raise TargetRefused(f"its host {host} did not resolve") from exc
        if not addresses:
            raise TargetRefused(f"its host {host} did not resolve")
        named = _literal(prefix.hostname or "")
        for address in addresses:
            if _is_public(address):
                continue
            named_loopback = address.is_loopback and prefix.hostname == "localhost"
            if address != named and not named_loopback:
                raise TargetRefused(f"its host {host} resolves to {address}, a private address no prefix names")
        return Target(url=url, host=host, address=addresses[0], port=port, scheme=parts.scheme)

    def _matching(self, url: str) -> tuple[SplitResult, SplitResult]:
        if len(url) > _MAX_URL_CHARS:
            raise TargetRefused(f"is longer than {_MAX_URL_CHARS} characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise TargetRefused("is not a URL") from exc
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.fragment:
            raise TargetRefused("must be an http(s) URL with a host, without credentials or a fragment")
        for prefix in self._prefixes:
            if _within(parts, port, prefix):
                if parts.scheme == "http" and not _is_loopback_name(parts.hostname):
                    raise TargetRefused("must be https (plain http only to a loopback address)")
                return parts, prefix
        raise TargetRefused("does not start with any of the allowed prefixes (WEBHOOK_URL_PREFIXES)")


def _parse_prefix(prefix: str) -> SplitResult:
    parts = urlsplit(prefix.strip())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        raise ValueError(f"WEBHOOK_URL_PREFIXES entry {prefix!r} is not an http(s) URL prefix")
    if parts.scheme == "http" and not _is_loopback_name(parts.hostname):
        raise ValueError(f"WEBHOOK_URL_PREFIXES entry {prefix!r}: plain http is allowed to loopback addresses only")
    return parts


def _within(parts: SplitResult, port: int | None, prefix: SplitResult) -> bool:
    return (
        parts.scheme == prefix.scheme
        and parts.hostname == prefix.hostname
        and (port or _DEFAULT_PORTS[parts.scheme]) == (prefix.port or _DEFAULT_PORTS[prefix.scheme])
        and parts.path.startswith(prefix.path)
        and ".." not in parts.path.split("/")
    )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _is_loopback_name(host: str) -> bool:
    address = _literal(host)
    return host == "localhost" or (address is not None and address.is_loopback)


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast
