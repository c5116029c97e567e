"""Which address a request is counted under."""

from ipaddress import ip_network

import pytest

from image_processor.admission.client_ip import client_address, ipv6_site_key, rate_limit_key

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


def test_ipv6_clients_share_their_56() -> None:
    """Issue 22: keyed per /64, one subscriber's delegated /56 held 256 quotas."""
    assert rate_limit_key("2001:db8:1:2:aaaa::1") == rate_limit_key("2001:db8:1:ff::9") == "2001:db8:1::/56"
    assert rate_limit_key("2001:db8:1:100::1") != rate_limit_key("2001:db8:1:2::1")


def test_the_ipv6_block_is_configurable() -> None:
    assert rate_limit_key("2001:db8:1:2:aaaa::1", 64) == "2001:db8:1:2::/64"
    assert rate_limit_key("2001:db8:1:2:aaaa::1", 48) == "2001:db8:1::/48"


def test_6to4_and_teredo_clients_count_as_the_ipv4_address_they_carry() -> None:
    """Every IPv4 host has a 6to4 /48 of its own (2002:AABB:CCDD::/48): counted per /56 it would hold 256 quotas."""
    assert rate_limit_key("2002:cb00:710a:1::1") == rate_limit_key("2002:cb00:710a:ff00::1") == "203.0.113.10"
    assert rate_limit_key("2001:0:4136:e378:8000:63bf:3fff:fdd2") == "192.0.2.45"
    assert ipv6_site_key("2002:cb00:710a:1::1") is None


def test_native_ipv6_clients_also_count_per_48() -> None:
    assert ipv6_site_key("2001:db8:1:2::1") == ipv6_site_key("2001:db8:1:ff00::1") == "2001:db8:1::/48"
    assert ipv6_site_key("203.0.113.5") is None


def test_ipv4_clients_count_alone() -> None:
    assert rate_limit_key("203.0.113.5") == "203.0.113.5"
    assert rate_limit_key("203.0.113.6") != rate_limit_key("203.0.113.5")
