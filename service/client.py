"""Who is asking, and by which name: the client's address and the checked ``Host``.

* :func:`client_address` is the one answer to "which address is this request from" (the
  login limits key on it, the audit log records it). ``X-Forwarded-For`` is honoured only
  when the peer is one of ``service.trusted_proxies`` (none by default): then the address
  is the right-most one of the header that is not itself a trusted proxy. Anyone else can
  write the header, so trusting it from any peer (uvicorn's default trusts loopback) let
  a client choose the address its limits were counted on. ``healthmap serve`` therefore
  runs uvicorn with ``proxy_headers=False``; this module does the proxies' part.
* :class:`HostCheckMiddleware` answers 400 (problem+json) to a ``Host`` that is not one of
  :func:`allowed_hosts` (``service.allowed_hosts``; by default the bind host, ``localhost``
  and ``127.0.0.1``), so no URL the service builds (TileJSON tile URLs, Starlette's
  trailing-slash redirects) can point at a host the client made up.
* :func:`public_base_url` is where the service's own absolute URLs start:
  ``service.public_url`` when set (behind a proxy that rewrites paths or schemes), else the
  request's base URL, whose host the middleware has checked.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence

from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import BadRequest, problem_response
from service.settings import ServiceSettings

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Names every service answers to besides its bind host (a browser on the server itself).
LOCAL_HOSTS = ("localhost", "127.0.0.1")
#: Bind addresses that are not names a client can use (all interfaces).
_WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})


# ----------------------------------------------------------------------------------------
# The client's address
# ----------------------------------------------------------------------------------------
@functools.cache
def _networks(proxies: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    # Validated when the settings are read (ServiceSettings); strict=False takes host bits.
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies)


def _trusted(address: str, networks: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def forwarded_client(
    peer: str | None, forwarded_for: str | None, proxies: Iterable[str]
) -> str | None:
    """The client's address given the peer, its ``X-Forwarded-For`` and the trusted proxies.

    Parameters
    ----------
    peer
        The address of the TCP peer (``None`` when the server does not know it).
    forwarded_for
        The request's ``X-Forwarded-For`` header(s), joined by commas.
    proxies
        Addresses or networks (``10.0.0.5``, ``10.0.0.0/24``) of trusted proxies.

    Returns
    -------
    str or None
        ``peer`` unless it is a trusted proxy; else the right-most address of the header
        that is not a trusted proxy (each proxy appends the address it saw, so everything
        left of that one was written by the client and is not believed). A malformed entry
        stops the walk at the last trusted hop.
    """
    networks = _networks(tuple(proxies))
    if peer is None or not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        client = hop
        if not _trusted(hop, networks):
            break
    return client


def client_address(request: HTTPConnection) -> str | None:
    """The address the request comes from (``service.trusted_proxies`` applied).

    The one function for it: the login limits, the audit log and the access log call it.
    """
    peer = request.client.host if request.client else None
    settings = request.app.state.settings.service
    proxies: tuple[str, ...] = tuple(getattr(settings, "trusted_proxies", ()))
    if not proxies:
        return peer
    return forwarded_client(peer, request.headers.get("x-forwarded-for"), proxies)


# ----------------------------------------------------------------------------------------
# The Host header
# ----------------------------------------------------------------------------------------
def allowed_hosts(settings: ServiceSettings) -> list[str]:
    """The host names the service answers to: ``service.allowed_hosts``, or by default the
    bind host (unless it is a wildcard such as ``0.0.0.0``), ``localhost`` and
    ``127.0.0.1``. ``*.example.org`` matches any subdomain; ``*`` alone turns the check off.
    """
    if settings.allowed_hosts:
        return list(settings.allowed_hosts)
    hosts = [] if settings.host in _WILDCARD_BINDS else [settings.host]
    return [*hosts, *(h for h in LOCAL_HOSTS if h not in hosts)]


def _host_name(header: str) -> str:
    """The name of a ``Host`` header, lower-case, without its port (``[::1]:8000`` → ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.partition(":")[0]


class HostCheckMiddleware(TrustedHostMiddleware):
    """Starlette's :class:`TrustedHostMiddleware` (its matching), answering a problem.

    Starlette's answers a plain-text 400; here the refusal is the service's ordinary 400
    problem (with the request id), and there is no ``www`` redirect (a redirect built from
    the Host header is what this guards against).
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        super().__init__(app, allowed_hosts=allowed_hosts, www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _host_name(Headers(scope=scope).get("host", ""))
        if host and any(
            host == pattern or (pattern.startswith("*") and host.endswith(pattern[1:]))
            for pattern in self.allowed_hosts
        ):
            await self.app(scope, receive, send)
            return
        error = BadRequest(
            "The Host header names no host this service answers to (service.allowed_hosts)."
        )
        await problem_response(error, scope)(scope, receive, send)


def public_base_url(request: HTTPConnection) -> str:
    """Where the service's absolute URLs start (no trailing slash).

    ``service.public_url`` when set; else the request's own base URL (scheme, the
    ``Host`` that :class:`HostCheckMiddleware` let through, and the root path).
    """
    configured = getattr(request.app.state.settings.service, "public_url", None)
    if configured:
        return str(configured).rstrip("/")
    return str(request.base_url).rstrip("/")
