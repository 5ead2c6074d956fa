"""Tables of refused and accepted agent URLs and dialled addresses (contract section 5).

Most inputs are collected from public sources, named above each group:

* Stripe Smokescreen, ``stripe/smokescreen``: ``pkg/smokescreen/smokescreen_test.go``
  (``TestClassifyAddr``), ``ip_policy_test.go`` and ``ip_filter_bypass_test.go``.
* Advocate, ``JordanMilne/Advocate``: ``test/test_advocate.py`` (``ValidateIPTests``, including the
  SafeCurl netblocks of ``test_safecurl_blacklist``, and ``AdvocateWrapperTests``).
* PayloadsAllTheThings, ``swisskyrepo/PayloadsAllTheThings``:
  ``Server Side Request Forgery/README.md`` (localhost payloads, filter bypasses, cloud
  metadata encodings), with http made https where the point is the host.
* aiohttp, ``aio-libs/aiohttp``: the test for canonical IPv4 hosts is not in the searchable index
  (its stored ``tests/test_helpers.py`` predates it), so its inputs come from the 3.14
  ``helpers.is_canonical_ipv4_address`` docstring and the ``TCPConnector._resolve_host`` comment
  (``2130706433``, ``017700000001``, ``127.1``), plus the project's TRAPS.md.
"""

from __future__ import annotations

import ipaddress

import pytest

from jamey_agent_orchestration.model import SecurityViolation
from jamey_agent_orchestration.net.address_policy import (
    check_address,
    check_port,
    forbidden_reason,
    validate_agent_url,
)
from jamey_agent_orchestration.settings import Network

PREFIX = "Security violation:"
LOOPBACK_NET: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"),)
TEN_NET: tuple[Network, ...] = (ipaddress.ip_network("10.0.0.0/8"),)


def _refused_url(url: str, allow: tuple[Network, ...] = ()) -> str:
    with pytest.raises(SecurityViolation) as info:
        validate_agent_url(url, allow)
    message = str(info.value)
    assert message.startswith(PREFIX)
    return message


def _refused_address(address: str, allow: tuple[Network, ...] = ()) -> str:
    with pytest.raises(SecurityViolation) as info:
        check_address(address, allow)
    message = str(info.value)
    assert message.startswith(PREFIX)
    return message


# (url, a fragment the message must contain)
REFUSED_URLS = [
    # PayloadsAllTheThings: "Payloads with localhost" and "Bypass using HTTPS".
    ("https://127.0.0.1:443", "loopback"),
    ("https://0.0.0.0:443", "unspecified"),
    ("https://localhost:443", "local name"),
    ("https://127.0.0.1/", "loopback"),
    ("https://localhost/", "local name"),
    # PayloadsAllTheThings: "Bypass localhost with [::]"; 0000::1:80 is no valid authority.
    ("https://[::]:443/", "unspecified"),
    ("https://0000::1:80/", "Invalid agent URL"),
    # PayloadsAllTheThings: "Bypass localhost with CIDR".
    ("https://127.127.127.127", "loopback"),
    ("https://127.0.1.3", "loopback"),
    ("https://127.0.0.0", "loopback"),
    # PayloadsAllTheThings: decimal, octal, letter-prefixed octal (a DNS name ending in a number).
    ("https://2130706433/", "canonical"),
    ("https://3232235521/", "canonical"),
    ("https://3232235777/", "canonical"),
    ("https://2852039166/", "canonical"),
    ("https://0177.0.0.1/", "canonical"),
    ("https://o177.0.0.1/", "canonical"),
    ("https://0o177.0.0.1/", "canonical"),
    ("https://q177.0.0.1/", "canonical"),
    # PayloadsAllTheThings: IPv6/IPv4 embedding, rare short forms, enclosed alphanumerics.
    ("https://[0:0:0:0:0:ffff:127.0.0.1]", "loopback address 127.0.0.1 embedded"),
    ("https://0/", "canonical"),
    ("https://127.1", "canonical"),
    ("https://127.0.1", "canonical"),
    ("https://①②⑦.⓪.⓪.①/", "loopback address 127.0.0.1"),
    # PayloadsAllTheThings: cloud metadata and its alternate encodings.
    ("https://169.254.169.254/latest/meta-data/", "link-local address 169.254.169.254"),
    ("https://425.510.425.510/", "canonical"),
    ("https://7147006462/", "canonical"),
    ("https://0xA9.0xFE.0xA9.0xFE/", "canonical"),
    ("https://0xA9FEA9FE/", "canonical"),
    ("https://0x41414141A9FEA9FE/", "canonical"),
    ("https://0251.0376.0251.0376/", "canonical"),
    ("https://0251.00376.000251.0000376/", "canonical"),
    ("https://0251.254.169.254", "canonical"),
    # PayloadsAllTheThings: weak-parser and combination tricks (backslash, user-info).
    ("https://127.1.1.1:80\\@127.2.2.2:80/", "Invalid agent URL"),
    ("https://1.1.1.1 &@2.2.2.2# @3.3.3.3/", "user info"),
    # PayloadsAllTheThings: other schemes ("SSRF exploitation via URL Scheme", jar trick).
    ("file:///etc/passwd", "Got: file"),
    ("dict://attacker:11111/", "Got: dict"),
    ("gopher://127.0.0.1:25/_x", "Got: gopher"),
    ("sftp://evil.com:11111/", "Got: sftp"),
    ("ldap://localhost:11211/%0astats%0aquit", "Got: ldap"),
    ("jar:https://127.0.0.1!/", "Got: jar"),
    ("http://127.0.0.1:80", "Got: http"),
    # Advocate AdvocateWrapperTests.test_validator.
    ("http://localhost/", "Got: http"),
    ("https://LOCALHOST./", "local name"),
    # aiohttp 3.14 canonical-IPv4 docstring, and TRAPS.md (aiohttp and ipaddress sections).
    ("https://017700000001/", "canonical"),
    ("https://0x7f000001/", "canonical"),
    ("https://0x7f.1/", "canonical"),
    ("https://127.0.0.01/", "canonical"),
    ("https://127.0.0.1./", "canonical"),
    ("https://127.0.0.2/", "loopback"),
    ("https://[::1]/", "loopback address ::1"),
    ("https://[::ffff:127.0.0.2]/", "loopback address 127.0.0.2"),
    ("https://127。0。0。1/", "loopback address 127.0.0.1"),
    ("https://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", "local name"),
    # Own cases: the remaining rules of contract section 5.
    ("https://agent.localhost/", "local name"),
    ("https://[fe80::1%25eth0]/", "zone id"),
    ("https://[fc00::1]/", "private"),
    ("https://[2001:db8::1]/", "documentation"),
    ("https://[fec0::1]/", "site-local"),
    ("https://[100::1]/", "discard-only"),
    ("https://[64:ff9b::808:808]/", "NAT64"),
    ("https://[2002:808:808::1]/", "6to4"),
    ("https://[::127.0.0.1]/", "loopback address 127.0.0.1 embedded"),
    ("https://example.com/?debug=1", "query or fragment"),
    ("https://example.com/#top", "query or fragment"),
    ("https:///agents", "host"),
    ("https://exa mple.com/", "not a valid host name"),
    ("https://ex%41mple.com/", "not a valid host name"),
    ("https://xn--/", "not a valid host name"),
]


@pytest.mark.parametrize(("url", "fragment"), REFUSED_URLS)
def test_refused_urls(url: str, fragment: str) -> None:
    assert fragment in _refused_url(url)


# (url, normalised result)
ACCEPTED_URLS = [
    # The brief's public examples, and the trailing-slash normalisation of the wire protocol.
    ("https://example.com", "https://example.com"),
    ("https://93.184.216.34", "https://93.184.216.34"),
    ("https://[2606:4700::1111]", "https://[2606:4700::1111]"),
    ("https://agent.example.com:8443/base/", "https://agent.example.com:8443/base"),
    ("HTTPS://Agent.Example.COM/v1//", "https://agent.example.com/v1"),
    ("https://example.com/?", "https://example.com"),
    # PayloadsAllTheThings "Bypass using enclosed alphanumerics": it really is example.com.
    ("https://ⓔⓧⓐⓜⓟⓛⓔ.ⓒⓞⓜ", "https://example.com"),
    # Smokescreen TestClassifyAddr ipAllowDefault entries, as URLs.
    ("https://8.8.8.8/", "https://8.8.8.8"),
    ("https://100.63.255.254/", "https://100.63.255.254"),
    ("https://100.128.0.1/", "https://100.128.0.1"),
    ("https://[2001:4860:4860::8888]/", "https://[2001:4860:4860::8888]"),
    ("https://[2606:4700:4700::1111]/", "https://[2606:4700:4700::1111]"),
    # Advocate ValidateIPTests: addresses it allows.
    ("https://178.254.90.1/", "https://178.254.90.1"),
    ("https://144.1.1.1/", "https://144.1.1.1"),
    ("https://[2607:f8b0:400a:807::200e]/", "https://[2607:f8b0:400a:807::200e]"),
]


@pytest.mark.parametrize(("url", "expected"), ACCEPTED_URLS)
def test_accepted_urls(url: str, expected: str) -> None:
    assert str(validate_agent_url(url)) == expected


# Names are judged when dialled, not at registration (PayloadsAllTheThings "Bypass localhost with
# a domain redirection" and the AWS "DNS record" list): they pass here and fail at connect time.
DEFERRED_NAMES = [
    ("https://localtest.me/", "127.0.0.1"),
    ("https://customer1.app.localhost.my.company.127.0.0.1.nip.io/", "127.0.0.1"),
    ("https://169.254.169.254.nip.io/", "169.254.169.254"),
    ("https://instance-data/", "169.254.169.254"),
]


@pytest.mark.parametrize(("url", "resolved"), DEFERRED_NAMES)
def test_names_are_checked_when_dialled(url: str, resolved: str) -> None:
    validate_agent_url(url)
    _refused_address(resolved)


# (address, a fragment of the refusal)
REFUSED_ADDRESSES = [
    # Smokescreen TestClassifyAddr: private, CGNAT, loopback, metadata, broadcast, multicast.
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("192.168.0.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.64.0.100", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.255", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "link-local"),
    ("255.255.255.255", "broadcast"),
    ("ff02:0:0:0:0:0:0:2", "multicast"),
    # Smokescreen TestClassifyAddr: IPv6 embedding schemes, refused whatever they embed.
    ("64:ff9b::ac1c:5", "NAT64"),
    ("64:ff9b::c000:201", "NAT64"),
    ("64:ff9b::a00:1", "NAT64"),
    ("64:ff9b::808:808", "NAT64"),
    ("64:ff9b::ffff:ffff", "NAT64"),
    ("2002:c000:201::1", "6to4"),
    ("2002:a00:1::1", "6to4"),
    ("2002:808:808::1", "6to4"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001:0:1234:5678:9abc:def0:1234:5678", "Teredo"),
    # Smokescreen allows 64:ff9c::1 ("outside NAT64"); it lies in ::/8, reserved by the IETF.
    ("64:ff9c::1", "reserved"),
    # Smokescreen ip_filter_bypass_test.go and ip_policy_test.go.
    ("fc00::1", "private"),
    ("fd00::5", "private"),
    ("64:ff9b::1", "NAT64"),
    # Advocate ValidateIPTests.
    ("::ffff:192.168.2.1", "private address 192.168.2.1 embedded"),
    ("2001:0000:4136:e378:8000:63bf:3f57:fdf2", "Teredo"),
    ("2002:C0A8:FFFF::", "6to4"),
    ("64:ff9b::192.168.2.1", "NAT64"),
    ("169.254.1.1", "link-local"),
    ("FEC0:CCCC::", "site-local"),
    ("227.1.1.1", "multicast"),
    ("10.5.5.5", "private"),
    ("0.0.0.0", "unspecified"),
    ("0.1.1.1", "'this network'"),
    ("100.64.0.0", "carrier-grade NAT"),
    ("192.88.99.0", "6to4 relay"),
    # Advocate test_safecurl_blacklist netblocks (first host of each not already above).
    ("192.0.0.1", "IETF protocol"),
    ("192.0.2.1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("198.51.100.1", "documentation"),
    ("203.0.113.1", "documentation"),
    ("240.0.0.1", "reserved"),
    # TRAPS.md: where is_global says True but the address is not public.
    ("192.0.0.192", "IETF protocol"),
    ("224.0.0.1", "multicast"),
    ("64:ff9b::a9fe:a9fe", "NAT64"),
    ("2002:a9fe:a9fe::", "6to4"),
    # Scope ids from getaddrinfo, mapped and compatible forms (own cases).
    ("fe80::1%eth0", "link-local"),
    ("fe80::1%2", "link-local"),
    ("::ffff:169.254.169.254", "link-local address 169.254.169.254 embedded"),
    ("::127.0.0.1", "loopback address 127.0.0.1 embedded"),
    ("::", "unspecified"),
    ("example.com", "not an IP address"),
]


@pytest.mark.parametrize(("address", "fragment"), REFUSED_ADDRESSES)
def test_refused_addresses(address: str, fragment: str) -> None:
    message = _refused_address(address)
    assert message.startswith(f"{PREFIX} connection to {address} refused (")
    assert fragment in message
    if fragment != "not an IP address":
        assert forbidden_reason(ipaddress.ip_address(address.split("%")[0])) is not None


ACCEPTED_ADDRESSES = [
    # Smokescreen TestClassifyAddr ipAllowDefault / ipAllowUserConfigured public entries.
    "8.8.8.8",
    "8.8.9.8",
    "1.1.1.1",
    "100.63.255.254",
    "100.128.0.1",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    # Advocate ValidateIPTests and AddrInfoTests public addresses.
    "178.254.90.1",
    "2607:f8b0:400a:807::200e",
    "144.1.1.1",
    "200.1.1.1",
    # Own cases: a scope id does not matter; a mapped public IPv4 is judged by that IPv4.
    "2606:4700:4700::1111%eth0",
    "::ffff:93.184.216.34",
]


@pytest.mark.parametrize("address", ACCEPTED_ADDRESSES)
def test_accepted_addresses(address: str) -> None:
    check_address(address)
    assert forbidden_reason(ipaddress.ip_address(address.split("%")[0])) is None


def test_messages_are_exact() -> None:
    assert _refused_address("127.0.0.1") == (
        "Security violation: connection to 127.0.0.1 refused (loopback address)"
    )
    assert _refused_address("::ffff:127.0.0.1") == (
        "Security violation: connection to ::ffff:127.0.0.1 refused "
        "(loopback address 127.0.0.1 embedded)"
    )
    assert forbidden_reason(ipaddress.IPv4Address("127.0.0.1")) == "loopback address 127.0.0.1"
    assert forbidden_reason(ipaddress.IPv6Address("::ffff:7f00:1")) == (
        "loopback address 127.0.0.1 embedded in ::ffff:7f00:1"
    )
    assert forbidden_reason(ipaddress.IPv6Address("fe80::1%eth0")) == "link-local address fe80::1"


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("http://example.com/", "http"),
        ("HTTP://example.com/", "http"),
        ("ftp://x/", "ftp"),
        ("example.com/agent", "(none)"),
        ("//example.com/agent", "(none)"),
    ],
)
def test_scheme_message(url: str, scheme: str) -> None:
    expected = f"Security violation: Agent URLs must use HTTPS. Got: {scheme}"
    assert _refused_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://alice:s3cr3t-pw@example.com/",
        "https://:s3cr3t-pw@example.com/",
        "https://alice:s3cr3t-pw@127.0.0.1/",
        "https://alice:s3cr3t-pw@[::1]:8443/",
        "http://alice:s3cr3t-pw@example.com/",
        "https://alice:s3cr3t-pw@2130706433/",
        "https://alice:s3cr3t-pw@example.com/?q=1",
    ],
)
def test_user_info_is_never_echoed(url: str) -> None:
    message = _refused_url(url, LOOPBACK_NET)
    assert "s3cr3t" not in message
    assert "alice" not in message


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("https://127.0.0.1:8443/", LOOPBACK_NET),
        ("https://localhost:8443/", LOOPBACK_NET),
        ("https://agent.localhost/", LOOPBACK_NET),
        ("https://[::1]/", (ipaddress.ip_network("::1/128"),)),
        ("https://localhost/", (ipaddress.ip_network("::1/128"),)),
        ("https://[::ffff:127.0.0.1]/", LOOPBACK_NET),
        ("https://10.1.2.3/", TEN_NET),
        # Smokescreen TestMostSpecificIPPolicySafetyChecks: an allow entry for exactly the address.
        ("https://10.0.0.1/", (ipaddress.ip_network("10.0.0.1/32"),)),
        ("https://100.64.0.1/", (ipaddress.ip_network("100.64.0.1/32"),)),
        ("https://[64:ff9b::1]/", (ipaddress.ip_network("64:ff9b::1/128"),)),
        # Advocate test_ip_whitelist: 127.0.0.1 whitelisted.
        ("https://127.0.0.1/", (ipaddress.ip_network("127.0.0.1/32"),)),
    ],
)
def test_allow_networks_exempt_registration(url: str, allow: tuple[Network, ...]) -> None:
    validate_agent_url(url, allow)


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("https://127.0.0.1/", TEN_NET),
        ("https://localhost/", TEN_NET),
        ("https://[::1]/", LOOPBACK_NET),
        ("https://169.254.169.254/", LOOPBACK_NET),
        # Non-canonical numeric hosts are refused outright, whatever the allow list says.
        ("https://2130706433/", LOOPBACK_NET),
        ("https://127.1/", LOOPBACK_NET),
        ("https://[fe80::1%25eth0]/", (ipaddress.ip_network("fe80::/10"),)),
    ],
)
def test_allow_networks_do_not_exempt_others(url: str, allow: tuple[Network, ...]) -> None:
    _refused_url(url, allow)


@pytest.mark.parametrize(
    ("address", "allow"),
    [
        ("127.0.0.1", LOOPBACK_NET),
        ("::ffff:127.0.0.1", LOOPBACK_NET),  # the embedded IPv4 is tested too
        ("::ffff:127.0.0.1", (ipaddress.ip_network("::ffff:127.0.0.0/104"),)),
        ("fe80::1%eth0", (ipaddress.ip_network("fe80::/10"),)),
        ("10.0.0.5", (ipaddress.ip_network("10.0.0.0/24"),)),  # Smokescreen TestAllowFirstIPPolicy
    ],
)
def test_allow_networks_exempt_connect(address: str, allow: tuple[Network, ...]) -> None:
    check_address(address, allow)
    check_address(ipaddress.ip_address(address), allow)


def test_allow_networks_do_not_exempt_others_at_connect() -> None:
    assert "loopback" in _refused_address("127.0.0.1", TEN_NET)
    assert "loopback" in _refused_address("::1", LOOPBACK_NET)
    # Smokescreen TestAllowFirstIPPolicy: 10.1.0.1 lies outside the allowed 10.0.0.0/24.
    assert "private" in _refused_address("10.1.0.1", (ipaddress.ip_network("10.0.0.0/24"),))


BAD_PORT = "Security violation: Agent URL port must be a number from 1 to 65535"


@pytest.mark.parametrize(
    "url",
    [
        "https://8.8.8.8:0/",
        "https://agent.example.com:0",
        "https://[2606:4700::1111]:0/",
        "https://agent.example.com:65536/",
        "https://agent.example.com:99999999999/",
        "https://agent.example.com:-1/",
    ],
)
def test_a_port_outside_1_to_65535_is_refused_at_registration(url: str) -> None:
    assert _refused_url(url) == BAD_PORT


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://8.8.8.8:1/", "https://8.8.8.8:1"),
        ("https://agent.example.com:65535/x", "https://agent.example.com:65535/x"),
        ("https://agent.example.com:443/", "https://agent.example.com"),
    ],
)
def test_ports_1_to_65535_are_accepted(url: str, expected: str) -> None:
    assert str(validate_agent_url(url)) == expected


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_a_port_outside_1_to_65535_is_refused_at_connect_time(port: int) -> None:
    with pytest.raises(SecurityViolation) as caught:
        check_port(port)
    assert str(caught.value) == (
        f"Security violation: connection to port {port} refused (not a port 1-65535)"
    )


@pytest.mark.parametrize("port", [1, 443, 65535])
def test_ports_1_to_65535_may_be_dialled(port: int) -> None:
    check_port(port)
