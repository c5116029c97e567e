"""URL rules shared by settings and adapters.

Web origins (scheme://host[:port]) have one spelling, so that a configured origin, a browser's Origin header
and the service's own address compare equal exactly when a browser would call them the same. Outbound
service URLs must be https, or plain http to a loopback address."""

import ipaddress
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(value: str) -> str | None:
    """`scheme://host[:port]` lower-cased without a default port, or None if `value` is not an origin."""
    try:
        parts = urlsplit(value.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path.strip("/") or parts.query:
        return None
    if parts.username is not None or parts.fragment:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in {None, _DEFAULT_PORTS[parts.scheme]} else "")


def origin_of(url: str) -> str:
    """The `scheme://host[:port]` of an absolute URL as written; "" if `url` has none."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def check_url(url: str, setting: str = "AI_SERVICE_URL") -> None:
    """Refuse anything but https, and plain http to a loopback address (for a service run locally)."""
    parsed = urlsplit(url)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and _is_loopback(parsed.hostname or ""):
        return
    raise ValueError(f"{setting} must be https (http only to a loopback address): {url}")


def normalise_base_url(value: str, setting: str) -> str:
    """A base URL that links are built under: checked like check_url, without query, fragment, credentials
    or trailing slash, so that `f"{base}/images/..."` is always one well-formed URL."""
    url = value.strip().rstrip("/")
    check_url(url, setting)
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username is not None or "?" in url or "#" in url:
        raise ValueError(f"{setting} must be a plain base URL, without query, fragment or credentials: {value}")
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
