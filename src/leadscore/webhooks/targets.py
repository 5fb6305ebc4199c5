"""Where webhooks may be sent: public addresses, plus the networks an operator allows.

Why: a subscription's URL is fetched by the server, and the delivery log keeps the
start of each response. Without a guard, anyone holding an admin key could point a
webhook at the cloud metadata service (169.254.169.254), the database host or any
internal page and read the answers back from the log (server-side request forgery).
So loopback, private, link-local, multicast and reserved addresses are refused unless
``LEADSCORE_WEBHOOK_ALLOWED_NETWORKS`` names them (as GitLab's "allow requests to the
local network" setting does).

Checked when a subscription is created or its URL changes, before every delivery
(every address the host resolves to must be allowed), and after connecting: the peer
the request actually reached must be allowed too, or the response is dropped unread,
so a name that resolves elsewhere between the check and the connection (DNS
rebinding) cannot be used to read an internal page.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SETTING = "LEADSCORE_WEBHOOK_ALLOWED_NETWORKS"


class TargetRefused(ValueError):
    """The URL's host is, or resolves to, an address webhooks may not be sent to."""


def refusal(address: Address, allowed: Sequence[Network]) -> str | None:
    """What kind of refused address ``address`` is ("a loopback address"), or None if allowed."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in network for network in allowed):
        return None
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    return None


def _refused(host: str, where: str) -> TargetRefused:
    return TargetRefused(f"webhooks may not be sent to {host}: {where}; allow its network with {SETTING} "
                         "(CIDR notation, comma-separated)")


def check_url(url: str, allowed: Sequence[Network]) -> None:
    """Raise TargetRefused if ``url``'s host is, or resolves to, a refused address.

    A name that does not resolve (here, now) passes: it may resolve where the worker runs,
    and the delivery is checked again then.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        kind = refusal(literal, allowed)
        if kind is not None:
            raise _refused(host, f"it is {kind}")
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return
    for *_, sockaddr in infos:
        address = _socket_address(sockaddr)
        kind = refusal(address, allowed)
        if kind is not None:
            raise _refused(host, f"it resolves to {address}, {kind}")


def check_peer(host: str, peer: object, allowed: Sequence[Network]) -> None:
    """Raise TargetRefused if the connected peer (a socket address) is refused."""
    if not isinstance(peer, tuple) or not peer:
        return  # not a TCP connection (a test transport): nothing to check
    address = _socket_address(peer)
    kind = refusal(address, allowed)
    if kind is not None:
        raise _refused(host, f"the connection reached {address}, {kind}")


def _socket_address(sockaddr: tuple) -> Address:
    """The IP address of a socket address tuple (an IPv6 scope id such as ``%eth0`` dropped)."""
    return ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
