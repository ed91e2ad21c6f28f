"""Where webhooks may go: the operator's destination policy (no SSRF from heat-engine).

An action URL is chosen by a project user, and heat-engine calls it from
inside the cloud's control plane.  :class:`DestinationPolicy` decides, for
each address a webhook would connect to, whether it may:

1. the most specific network of ``denied_networks`` and ``allowed_networks``
   that holds the address decides (on a tie, the denial); by default the
   link-local ranges, which hold the metadata service, are denied;
2. else a loopback address is refused unless ``allow_loopback``;
3. else any other address that is not globally routable (private, shared,
   reserved, multicast, ``0.0.0.0/8``...) is refused unless ``allow_private``;
4. else (a public address) it is allowed.

An IPv6 address that stands for an IPv4 one (``::ffff:a.b.c.d``,
``::a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4, Teredo) is judged as that IPv4
address too.  Host names are resolved once, every address they resolve to
is checked, and the connection then goes to the checked address (see
:mod:`heat_alarming.engine.notifiers.http`), so a name that resolves to
something else a moment later (DNS rebinding) gains nothing.  Host forms
that resolvers read differently from URL parsers (``2130706433``,
``0x7f.1``, ``0177.0.0.1``, IPv6 zone ids, backslashes, blanks) are refused.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from oslo_config import cfg

from heat_alarming import GROUP
from heat_alarming.engine.notifiers import DeliveryError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: denied unless the operator says otherwise: link-local (OpenStack's and most clouds'
#: metadata service at 169.254.169.254 and fe80::a9fe:a9fe), AWS's IPv6 metadata address
#: and Alibaba's metadata address
DEFAULT_DENIED_NETWORKS = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128",
                           "100.100.100.200/32")
DEFAULT_ALLOWED_SCHEMES = ("http", "https")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
_ODD_CHARACTERS = re.compile(r"[\s\\\x00-\x1f\x7f]")


class DestinationError(DeliveryError):
    """A webhook destination the policy refuses (never worth retrying)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class _ResolutionTimedOut(Exception):
    """The resolver did not answer in the time given."""


@dataclasses.dataclass(frozen=True)
class Destination:
    """A checked webhook destination: connect to ``address``, speak to ``host``."""

    scheme: str
    host: str            # the name (or literal) of the URL: Host header, TLS server name
    port: int
    address: str         # the checked IP address to connect to

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = {"http": 80, "https": 443}.get(self.scheme)
        return host if self.port == default else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``socket.getaddrinfo``)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def _networks(values: Iterable[str], option: str) -> tuple[Network, ...]:
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{option}: {value!r} is not a network (CIDR): {exc}") from None
    return tuple(networks)


def _stands_for(address: Address) -> list[Address]:
    """The address and the IPv4 addresses it stands for."""
    if address.version == 4:
        return [address]
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]  # it is that IPv4 address on a dual-stack socket
    found: list[Address] = [address]
    if address in _COMPATIBLE and int(address) > 1:  # ::a.b.c.d (not :: nor ::1)
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


#: "this network" (RFC 1122): Linux connects 0.x.y.z like 0.0.0.0, to this host
_THIS_HOST_V4 = ipaddress.ip_network("0.0.0.0/8")


class DestinationPolicy:
    """The operator's rules for webhook destinations (options ``webhook_*``).

    ``resolver(host, port) -> [address, ...]`` resolves host names; it is
    :func:`system_resolver` unless given (tests give their own to play a
    DNS server that changes its answers).
    """

    def __init__(self, *, allowed_schemes: Sequence[str] = DEFAULT_ALLOWED_SCHEMES,
                 allowed_networks: Iterable[str] = (),
                 denied_networks: Iterable[str] = DEFAULT_DENIED_NETWORKS,
                 allow_loopback: bool = False, allow_private: bool = False,
                 allowed_ports: Iterable[int] = (),
                 resolver: Callable[[str, int], list[str]] | None = None) -> None:
        self.allowed_schemes = tuple(s.lower() for s in allowed_schemes)
        self.allowed_networks = _networks(allowed_networks, "webhook_allowed_networks")
        self.denied_networks = _networks(denied_networks, "webhook_denied_networks")
        self.allow_loopback = bool(allow_loopback)
        self.allow_private = bool(allow_private)
        self.allowed_ports = frozenset(int(p) for p in allowed_ports)
        self.resolver = resolver or system_resolver

    # -- addresses ---------------------------------------------------------
    def refusal(self, address: Address) -> str | None:
        """Why ``address`` may not be called (None: it may)."""
        for candidate in _stands_for(address):
            reason = self._refusal(candidate)
            if reason:
                return reason if candidate == address else f"{reason} (as {address})"
        return None

    def _refusal(self, address: Address) -> str | None:
        if address.is_unspecified or address in _THIS_HOST_V4:
            # a connection to 0.0.0.0 or :: reaches this very host: never, whatever is listed
            return f"{address} stands for this host, which is never called"
        listed = [(net.prefixlen, allowed, net) for allowed, nets in
                  ((False, self.denied_networks), (True, self.allowed_networks))
                  for net in nets if net.version == address.version and address in net]
        if listed:
            _, allowed, net = max(listed, key=lambda entry: (entry[0], not entry[1]))
            return None if allowed else (f"{address} is in {net}, a denied network "
                                         "(webhook_denied_networks)")
        if address.is_loopback:
            return None if self.allow_loopback else (
                f"{address} is a loopback address (webhook_allow_loopback is off)")
        if (not address.is_global or address.is_multicast or address.is_reserved
                or getattr(address, "is_site_local", False)):
            return None if self.allow_private else (
                f"{address} is a private or reserved address (webhook_allow_private is off)")
        return None

    # -- URLs ----------------------------------------------------------------
    def check_url(self, url: str, *, must_resolve: bool = True,
                  timeout: float | None = None) -> Destination | None:
        """The checked destination of ``url``; raises :class:`DestinationError`.

        A host name is resolved and every address checked. ``must_resolve=False``
        (at definition) lets a name that does not resolve yet pass (None): it
        may exist by the time it is called, and is checked then.  A resolution
        still unanswered after ``timeout`` seconds (when given) fails with a
        retryable :class:`DeliveryError`, or passes (None) if ``must_resolve``
        is False.
        """
        scheme, host, port = self._parse(url)
        literal = self._literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = [ipaddress.ip_address(a)
                             for a in self._resolve(host, port, timeout)]
            except _ResolutionTimedOut:
                if not must_resolve:
                    return None
                raise DeliveryError(f"cannot resolve {host!r}: timed out after "
                                    f"{timeout:g} s") from None
            except (OSError, UnicodeError, ValueError) as exc:
                if not must_resolve:
                    return None
                raise DeliveryError(f"cannot resolve {host!r}: {exc}") from exc
            if not addresses:
                if not must_resolve:
                    return None
                raise DeliveryError(f"{host!r} resolves to no address")
        for address in addresses:  # one refused address refuses the name
            reason = self.refusal(address)
            if reason:
                where = "" if literal is not None else f"{host!r} resolves to {address}: "
                raise DestinationError(f"destination refused: {where}{reason}")
        return Destination(scheme, host, port, str(addresses[0]).split("%", 1)[0])

    def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        """The resolver's answer, or :class:`_ResolutionTimedOut` after ``timeout`` seconds.

        getaddrinfo takes no timeout, so a bounded resolution runs in a thread
        of its own, left to finish (or not) in the background when too late.
        """
        if timeout is None:
            return self.resolver(host, port)
        answer: list = []

        def resolve() -> None:
            try:
                answer.append((True, self.resolver(host, port)))
            except BaseException as exc:  # handed to the caller below
                answer.append((False, exc))

        worker = threading.Thread(target=resolve, name="heat-alarming-resolve", daemon=True)
        worker.start()
        worker.join(max(timeout, 0.0))
        if not answer:
            raise _ResolutionTimedOut(host)
        ok, value = answer[0]
        if not ok:
            raise value
        return value

    def _parse(self, url: str) -> tuple[str, str, int]:
        if _ODD_CHARACTERS.search(url):
            raise DestinationError("destination refused: blanks, control characters or "
                                   "backslashes in the URL")
        try:
            parts = urlsplit(url)
            hostname, port = parts.hostname, parts.port
        except ValueError as exc:  # an unbalanced '[', a port out of range...
            raise DestinationError(f"destination refused: not a valid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in self.allowed_schemes:
            raise DestinationError(f"destination refused: scheme {scheme!r} is not allowed "
                                   f"(webhook_allowed_schemes: "
                                   f"{', '.join(self.allowed_schemes)})")
        host = hostname or ""
        if not host:
            raise DestinationError("destination refused: no host")
        if "%" in host:
            raise DestinationError("destination refused: '%' in the host (IPv6 zone ids "
                                   "are not allowed, nor percent-encoded hosts)")
        port = port or {"http": 80, "https": 443}.get(scheme, 0)
        if self.allowed_ports and port not in self.allowed_ports:
            raise DestinationError(f"destination refused: port {port} is not allowed "
                                   f"(webhook_allowed_ports)")
        if host.endswith("."):
            host = host[:-1]
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise DestinationError(f"destination refused: {host!r} is not a valid host "
                                   "name") from None
        return scheme, host, port

    @staticmethod
    def _literal(host: str) -> Address | None:
        try:
            return ipaddress.ip_address(host)
        except ValueError:
            pass
        try:  # what inet_aton reads as IPv4 (2130706433, 0x7f.1, 0177.0.0.1, 127.1)
            socket.inet_aton(host)
        except OSError:
            return None
        raise DestinationError(f"destination refused: {host!r} is not a canonical IP "
                               "address (write a.b.c.d in decimal)")


# -- options: read by destination_policy_from_conf, gathered in heat_alarming.opts ------
destination_opts = [
    cfg.ListOpt("webhook_allowed_schemes", default=list(DEFAULT_ALLOWED_SCHEMES),
                help="Schemes webhooks may use (trust+http and trust+https actions count "
                     "as http and https)."),
    cfg.ListOpt("webhook_denied_networks", default=list(DEFAULT_DENIED_NETWORKS),
                help="Networks (CIDR) webhooks may never call. The most specific network "
                     "of webhook_denied_networks and webhook_allowed_networks that holds an "
                     "address decides, a denial on a tie; the default denies link-local "
                     "addresses, where metadata services answer (169.254.169.254)."),
    cfg.ListOpt("webhook_allowed_networks", default=[],
                help="Networks (CIDR) webhooks may call although they are loopback, "
                     "private or reserved (e.g. an internal receiver's 10.1.2.0/24). With "
                     "0.0.0.0/0 and ::/0 in webhook_denied_networks, only these networks "
                     "are callable."),
    cfg.BoolOpt("webhook_allow_loopback", default=False,
                help="Let webhooks call loopback addresses (127.0.0.0/8, ::1) that no "
                     "network of the two lists names: heat-engine's own host."),
    cfg.BoolOpt("webhook_allow_private", default=False,
                help="Let webhooks call addresses that are not globally routable "
                     "(10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, 0.0.0.0/8, "
                     "multicast, reserved...) that no network of the two lists names."),
    cfg.ListOpt("webhook_allowed_ports", item_type=cfg.types.Integer(min=1, max=65535),
                default=[],
                help="Ports webhooks may call; empty: any port."),
]


def destination_policy_from_conf(conf: cfg.ConfigOpts) -> DestinationPolicy:
    """The webhook :class:`DestinationPolicy` of ``[heat_alarming]``."""
    conf.register_opts(destination_opts, group=GROUP)
    group = conf[GROUP]
    return DestinationPolicy(
        allowed_schemes=group.webhook_allowed_schemes,
        allowed_networks=group.webhook_allowed_networks,
        denied_networks=group.webhook_denied_networks,
        allow_loopback=group.webhook_allow_loopback,
        allow_private=group.webhook_allow_private,
        allowed_ports=group.webhook_allowed_ports)
