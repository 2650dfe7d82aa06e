"""Device keys, request signing and card tokens of the smart terminals (pure functions).

No key is stored anywhere. A terminal's key is derived from the master secret
(``terminals.key_secret``, else one derived from ``auth.secret``)::

    key = base64url(HMAC-SHA256(master, "terminal:<terminal_id>:<key_generation>"))

(no padding: 43 characters). Rotating a key is ``key_generation + 1``: the old key no
longer derives, so it is refused at once. A device signs every request with its key (the
43 ASCII characters are the HMAC key)::

    canonical = lines "HEALTHMAP-TERMINAL-V1", METHOD, path, timestamp, nonce,
                hex SHA-256 of the body, joined by "\\n"
    X-Terminal-Signature = hex(HMAC-SHA256(key, canonical))

and sends ``X-Terminal-Id``, ``X-Terminal-Timestamp`` (unix seconds), ``X-Terminal-Nonce``
(8–64 of ``A-Za-z0-9-_``, new for every request) and ``X-Terminal-Signature``. Everything
here is cheap (a few HMACs): the readings endpoint must answer in milliseconds, so no
password hash is involved.

A resident's **card token** (printed on the resident's card or as a QR code) names the
resident to a terminal without a look-up table::

    mac = base64url(HMAC-SHA256(master, "card:<resident_id>"))
    card_token = "<resident_id>.<first 16 characters of mac>"

``docs/terminals.md`` has a worked example of each.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

#: The first line of every canonical request (the protocol's version).
SIGNATURE_VERSION = "HEALTHMAP-TERMINAL-V1"
#: The request headers of the protocol.
HEADER_ID = "X-Terminal-Id"
HEADER_TIMESTAMP = "X-Terminal-Timestamp"
HEADER_NONCE = "X-Terminal-Nonce"
HEADER_SIGNATURE = "X-Terminal-Signature"
TERMINAL_HEADERS = (HEADER_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
#: A nonce: 8–64 URL-safe characters.
NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
#: A terminal id: what ``X-Terminal-Id`` may hold (also checked at registration).
TERMINAL_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}")
#: Characters of the card token's MAC (16 base64url characters: 96 bits).
CARD_MAC_LENGTH = 16
_LABEL = b"healthmap.terminals.v1"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def master_secret(key_secret: str | None, auth_secret: str) -> bytes:
    """The master secret of device keys and card tokens.

    Parameters
    ----------
    key_secret
        ``terminals.key_secret``; when None, the master is HMAC-SHA256(``auth_secret``,
        ``"healthmap.terminals.v1"``), so it is never the JWT key itself.
    auth_secret
        ``auth.secret``.
    """
    if key_secret:
        return key_secret.encode("utf-8")
    return hmac.new(auth_secret.encode("utf-8"), _LABEL, hashlib.sha256).digest()


def derive_key(master: bytes, terminal_id: str, key_generation: int) -> str:
    """The device key of ``terminal_id`` at ``key_generation`` (43 base64url characters)."""
    msg = f"terminal:{terminal_id}:{key_generation}".encode()
    return _b64url(hmac.new(master, msg, hashlib.sha256).digest())


def body_sha256(body: bytes) -> str:
    """Hex SHA-256 of the request body (of ``b""`` when there is none)."""
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    method: str, path: str, timestamp: int | str, nonce: str, body_sha256: str
) -> str:
    """The string a terminal signs: version, method, path, timestamp, nonce, body hash.

    ``path`` is the request's path without the query (``/api/v1/terminal/readings``).
    """
    return "\n".join(
        (SIGNATURE_VERSION, method.upper(), path, str(timestamp), nonce, body_sha256.lower())
    )


def sign(
    key: str, method: str, path: str, timestamp: int | str, nonce: str, body_sha256: str
) -> str:
    """Hex HMAC-SHA256 of the canonical request with ``key`` (its ASCII bytes)."""
    canonical = canonical_request(method, path, timestamp, nonce, body_sha256)
    return hmac.new(key.encode("ascii"), canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two hex signatures (case-insensitive)."""
    return hmac.compare_digest(expected.lower().encode("ascii"), given.lower().encode("ascii"))


def new_nonce() -> str:
    """A fresh random nonce (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)


def signed_headers(
    terminal_id: str,
    key: str,
    method: str,
    path: str,
    body: bytes,
    now: float,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers of a signed terminal request (a client's whole job).

    Parameters
    ----------
    terminal_id, key
        The terminal and its current key (as registration or rotation returned it).
    method, path
        ``POST`` and ``/api/v1/terminal/readings``.
    body
        The exact bytes sent as the body.
    now
        Unix time in seconds (``time.time()``).
    nonce
        A new random one when None.
    """
    nonce = nonce or new_nonce()
    timestamp = int(now)
    return {
        HEADER_ID: terminal_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(key, method, path, timestamp, nonce, body_sha256(body)),
    }


# ----------------------------------------------------------------------------------------
# Card tokens
# ----------------------------------------------------------------------------------------
def card_token(master: bytes, resident_id: str) -> str:
    """The card/QR token of ``resident_id``: ``<resident_id>.<16-character MAC>``."""
    mac = _b64url(hmac.new(master, f"card:{resident_id}".encode(), hashlib.sha256).digest())
    return f"{resident_id}.{mac[:CARD_MAC_LENGTH]}"


@dataclass(frozen=True)
class CardCheck:
    """What a card token says: the resident it names, if its MAC holds."""

    resident_id: str | None
    problem: str | None = None


def check_card_token(master: bytes, token: str) -> CardCheck:
    """The resident a card token names, or why it names none (constant-time MAC check)."""
    resident_id, dot, mac = token.strip().rpartition(".")
    if not dot or not resident_id or len(mac) != CARD_MAC_LENGTH:
        return CardCheck(None, "not a card token (expected <resident_id>.<16 characters>)")
    expected = card_token(master, resident_id)
    if not hmac.compare_digest(expected.encode("utf-8"), f"{resident_id}.{mac}".encode()):
        return CardCheck(None, "the card token's check characters do not match")
    return CardCheck(resident_id)
