"""Which address a request is counted under."""

from ipaddress import ip_network

import pytest

from image_processor.admission.client_ip import client_address, rate_limit_key

PROXIES = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]


def test_the_socket_peer_is_used_when_no_proxy_is_trusted() -> None:
    assert client_address("203.0.113.5", ["198.51.100.1"], []) == "203.0.113.5"


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("203.0.113.5", ["198.51.100.1, 10.0.0.1"], PROXIES) == "203.0.113.5"


@pytest.mark.parametrize(
    ("forwarded_for", "expected"),
    [
        ("198.51.100.1", "198.51.100.1"),
        ("1.2.3.4, 198.51.100.1", "198.51.100.1"),  # the left hop is whatever the client wrote
        ("1.2.3.4, 198.51.100.1, 10.1.1.1", "198.51.100.1"),  # skip our own proxies from the right
        ("not-an-ip, 198.51.100.1", "198.51.100.1"),
        ("198.51.100.1, not-an-ip", "10.0.0.2"),  # garbage right of the client: trust nothing beyond the peer
        ("10.1.1.1", "10.0.0.2"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("1.2.3.4, 198.51.100.1:5555", "198.51.100.1"),  # a hop written with its port
        ("198.51.100.1:5555, 10.1.1.1:443", "198.51.100.1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("198.51.100.1:99999", "10.0.0.2"),  # not a port: garbage, so nothing beyond the peer is believed
        ("[2001:db8::1]x", "10.0.0.2"),
    ],
)
def test_a_trusted_proxy_contributes_the_right_most_untrusted_hop(forwarded_for: str, expected: str) -> None:
    assert client_address("10.0.0.2", [forwarded_for], PROXIES) == expected


def test_every_forwarded_for_line_is_read_in_order() -> None:
    """A proxy that appends its own line leaves the client's line first: the client must not choose its address."""
    lines = ["6.6.6.6", "198.51.100.1"]  # the client's forged line, then the line our proxy added
    assert client_address("10.0.0.2", lines, PROXIES) == "198.51.100.1"
    assert client_address("10.0.0.2", ["6.6.6.6", "198.51.100.1, 10.1.1.1"], PROXIES) == "198.51.100.1"


def test_ipv4_mapped_ipv6_peers_count_as_ipv4() -> None:
    assert client_address("::ffff:203.0.113.5", [], []) == "203.0.113.5"


def test_no_peer_gives_no_address() -> None:
    assert client_address(None, ["198.51.100.1"], PROXIES) is None


def test_ipv6_clients_share_their_64() -> None:
    assert rate_limit_key("2001:db8:1:2:aaaa::1") == rate_limit_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert rate_limit_key("2001:db8:1:3::1") != rate_limit_key("2001:db8:1:2::1")


def test_ipv4_clients_count_alone() -> None:
    assert rate_limit_key("203.0.113.5") == "203.0.113.5"
    assert rate_limit_key("203.0.113.6") != rate_limit_key("203.0.113.5")
