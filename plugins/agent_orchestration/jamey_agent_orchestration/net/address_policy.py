"""Which agent URLs and which dialled addresses the connector accepts (contract section 5).

Two checks, both raising :class:`SecurityViolation`:

* :func:`validate_agent_url` at registration, on the URL as yarl parses it;
* :func:`check_address` (and :func:`check_port`) at connect time, on every address actually
  dialled, so a public-looking name that resolves to a forbidden address (DNS rebinding) is
  still refused.

The deny list is explicit: ``ipaddress``'s ``is_global`` alone says True for multicast, for
``192.0.0.0/24`` members and for NAT64/6to4 forms wrapping ``169.254.169.254``, and its answers
changed between 3.11 patch releases. ``not is_global`` and ``is_reserved`` are only a second net.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network

import yarl

from jamey_agent_orchestration.model import SecurityViolation
from jamey_agent_orchestration.settings import Network

__all__ = ["check_address", "check_port", "forbidden_reason", "validate_agent_url"]

Address = IPv4Address | IPv6Address

# Ordered: the first match names the refusal, so narrow entries precede the ranges holding them.
_DENY: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(cidr), label)
    for cidr, label in (
        ("0.0.0.0/32", "unspecified address"),
        ("0.0.0.0/8", "'this network' address"),
        ("10.0.0.0/8", "private address"),
        ("100.64.0.0/10", "carrier-grade NAT address"),
        ("127.0.0.0/8", "loopback address"),
        ("169.254.0.0/16", "link-local address"),
        ("172.16.0.0/12", "private address"),
        ("192.0.0.0/24", "IETF protocol assignment address"),
        ("192.0.2.0/24", "documentation address"),
        ("192.88.99.0/24", "6to4 relay anycast address"),
        ("192.168.0.0/16", "private address"),
        ("198.18.0.0/15", "benchmarking address"),
        ("198.51.100.0/24", "documentation address"),
        ("203.0.113.0/24", "documentation address"),
        ("224.0.0.0/4", "multicast address"),
        ("255.255.255.255/32", "broadcast address"),
        ("240.0.0.0/4", "reserved address"),
        ("::/128", "unspecified address"),
        ("::1/128", "loopback address"),
        # Translation and tunnelling prefixes reach whatever IPv4 they wrap through a gateway we
        # do not control, so they are refused whatever they embed.
        ("64:ff9b::/96", "NAT64 address"),
        ("64:ff9b:1::/48", "NAT64 address"),
        ("2001::/32", "Teredo address"),
        ("2002::/16", "6to4 address"),
        ("100::/64", "discard-only address"),
        ("2001:db8::/32", "documentation address"),
        ("3fff::/20", "documentation address"),
        ("fc00::/7", "private address"),
        ("fe80::/10", "link-local address"),
        ("fec0::/10", "site-local address"),
        ("ff00::/8", "multicast address"),
    )
)
_COMPATIBLE = IPv6Network("::/96")  # deprecated IPv4-compatible form, ::a.b.c.d
_LOOPBACKS = (IPv4Address("127.0.0.1"), IPv6Address("::1"))
_NOT_EMBEDDING = (IPv6Address("::"), IPv6Address("::1"))  # in ::/96, but named in their own right

# WHATWG's "ends in a number" rule: a host whose last label is decimal or 0x-hex is read as an
# IPv4 number by browsers and by inet_aton/getaddrinfo (2130706433, 0x7f.1, 0177.0.0.1, 127.1).
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_BAD_PORT = "Agent URL port must be a number from 1 to 65535"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def _embedded_ipv4(address: Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped or IPv4-compatible IPv6 address stands for."""
    if not isinstance(address, IPv6Address) or address in _NOT_EMBEDDING:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _COMPATIBLE:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _judge(address: Address) -> tuple[str, Address] | None:
    """The refusal label and the address it applies to (the embedded IPv4 for mapped forms)."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return _judge(embedded)
    for network, label in _DENY:
        if address in network:
            return label, address
    if address.is_reserved:
        return "reserved address", address
    if not address.is_global:
        return "non-global address", address
    return None


def _allowed(address: Address, allow_networks: Sequence[Network]) -> bool:
    candidates: list[Address] = [address]
    embedded = _embedded_ipv4(address)
    if embedded is not None:  # judged by what it embeds, so exempted by it too
        candidates.append(embedded)
    # An IPv4 address is never "in" an IPv6 network (and vice versa): containment is False.
    return any(a in network for a in candidates for network in allow_networks)


def _unscoped(address: Address) -> Address:
    # A scope id ('%eth0') only names the interface; the policy is about the address itself.
    if isinstance(address, IPv6Address) and address.scope_id is not None:
        return IPv6Address(int(address))
    return address


def forbidden_reason(address: IPv4Address | IPv6Address) -> str | None:
    """None if ``address`` may be dialled; else a short reason (``'loopback address 127.0.0.1'``).

    IPv4-mapped (``::ffff:a.b.c.d``) and IPv4-compatible (``::a.b.c.d``) forms are judged by the
    IPv4 they embed (``'loopback address 127.0.0.1 embedded in ::ffff:7f00:1'``). The allow list is
    not consulted here; see :func:`check_address`.
    """
    address = _unscoped(address)
    verdict = _judge(address)
    if verdict is None:
        return None
    label, judged = verdict
    return f"{label} {judged}" if judged == address else f"{label} {judged} embedded in {address}"


def check_address(
    address: str | IPv4Address | IPv6Address, allow_networks: Sequence[Network] = ()
) -> None:
    """Raise :class:`SecurityViolation` unless ``address`` may be dialled.

    Called at connect time for every address actually dialled: ``address`` may be the string
    ``sockaddr[0]`` from ``getaddrinfo``, possibly with an IPv6 scope (``'fe80::1%eth0'``), which is
    ignored. An address inside any of ``allow_networks`` is allowed whatever it is; for an
    IPv4-mapped IPv6 address the embedded IPv4 is also tested against them. The message reads e.g.
    ``'Security violation: connection to 127.0.0.1 refused (loopback address)'``.
    """
    shown = str(address)
    if isinstance(address, str):
        try:
            parsed: Address = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            raise SecurityViolation(f"connection to {shown} refused (not an IP address)") from None
    else:
        parsed = _unscoped(address)
    if _allowed(parsed, allow_networks):
        return
    verdict = _judge(parsed)
    if verdict is not None:
        label, judged = verdict
        detail = label if judged == parsed else f"{label} {judged} embedded"
        raise SecurityViolation(f"connection to {shown} refused ({detail})")


def check_port(port: int) -> None:
    """Raise :class:`SecurityViolation` unless ``port`` is one a connection may be made to."""
    if not 1 <= port <= 65535:
        raise SecurityViolation(f"connection to port {port} refused (not a port 1-65535)")


def _check_literal(address: Address, allow_networks: Sequence[Network]) -> None:
    if not _allowed(address, allow_networks) and (reason := forbidden_reason(address)):
        raise SecurityViolation(f"Agent URL refused: {reason}")


def validate_agent_url(raw: str, allow_networks: Sequence[Network] = ()) -> yarl.URL:
    """Check an agent URL at registration and return it normalised.

    The URL is judged as yarl parses it, never as the raw string (yarl folds ``127。0。0。1`` into
    ``127.0.0.1`` and ``ⓛⓞⓒⓐⓛⓗⓞⓢⓣ`` into ``localhost``). Refused, each with a
    :class:`SecurityViolation` whose message names at most the scheme or host (never user-info):
    an unparsable URL; a scheme other than https; user-info; a missing host; a port outside
    1-65535 (``0`` included, which no agent listens on); a query or fragment;
    an IPv6 zone id; a numeric host that is not a canonical dotted quad (``2130706433``,
    ``0x7f.1``, ``0177.0.0.1``, ``127.1``, ``127.0.0.1.``), since ``getaddrinfo`` would still dial
    it; a host that is no valid DNS name; a forbidden literal address (see
    :func:`forbidden_reason`) outside ``allow_networks``; and ``localhost`` or ``*.localhost``,
    unless ``127.0.0.1`` or ``::1`` lies in ``allow_networks`` (such a name is then dialled, and
    checked, like any other). Other names are judged at connect time by :func:`check_address`.

    Returns the URL with any trailing slash of its path removed (``https://h/base/`` becomes
    ``https://h/base``, ``https://h/`` becomes ``https://h``).
    """
    try:
        url = yarl.URL(raw)
        host = (url.raw_host or "").lower()
        port = url.explicit_port
    except ValueError as exc:  # includes the UnicodeError of a bad IDNA label
        if "out of range" in str(exc):  # yarl: "Port out of range 0-65535"
            raise SecurityViolation(_BAD_PORT) from None
        raise SecurityViolation("Invalid agent URL") from None
    if url.scheme != "https":
        raise SecurityViolation(f"Agent URLs must use HTTPS. Got: {url.scheme or '(none)'}")
    if url.user is not None or url.password is not None:
        raise SecurityViolation("Agent URLs must not contain user info")
    if not host:
        raise SecurityViolation("Agent URLs must have a host")
    if port is not None and not 1 <= port <= 65535:
        raise SecurityViolation(_BAD_PORT)
    if url.raw_query_string or url.raw_fragment:
        raise SecurityViolation("Agent URLs must not contain a query or fragment")
    if ":" in host:
        if "%" in host:
            raise SecurityViolation("Agent URLs must not carry an IPv6 zone id")
        try:
            literal = IPv6Address(host)
        except ValueError:
            raise SecurityViolation("Invalid agent URL") from None
        _check_literal(literal, allow_networks)
    else:
        name = host.removesuffix(".")
        if _NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]):
            if not _CANONICAL_IPV4.fullmatch(host):
                raise SecurityViolation(
                    f"Agent URL host {host} is not a canonical dotted-quad IPv4 address"
                )
            _check_literal(IPv4Address(host), allow_networks)
        elif len(name) > 253 or not _HOSTNAME.fullmatch(name):
            raise SecurityViolation("Agent URL host is not a valid host name")
        elif (name == "localhost" or name.endswith(".localhost")) and not any(
            loopback in network for loopback in _LOOPBACKS for network in allow_networks
        ):
            raise SecurityViolation(f"Agent URL host {host} is a local name")
    return url.with_path(url.raw_path.rstrip("/"), encoded=True)
