"""Device keys, request signatures and card tokens against vectors computed with openssl.

The expected values were computed outside Python::

    printf 'terminal:TM-0001:1' | openssl dgst -sha256 -hmac "$MASTER" -binary | basenc --base64url
    printf 'HEALTHMAP-TERMINAL-V1\\nPOST\\n/api/v1/terminal/readings\\n1796600000\\n' > c
    printf 'nonce-0001\\n<sha>' >> c; openssl dgst -sha256 -hmac "$KEY" < c
    printf 'card:R000123' | openssl dgst -sha256 -hmac "$MASTER" -binary | basenc --base64url
"""

from __future__ import annotations

from service.terminal_auth import (
    HEADER_ID,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    NONCE_PATTERN,
    body_sha256,
    canonical_request,
    card_token,
    check_card_token,
    derive_key,
    master_secret,
    new_nonce,
    sign,
    signature_matches,
    signed_headers,
)

MASTER = "test-master-secret-0123456789abcdef"
KEY_TM0001_G1 = "evSyeR6QgCDfZbj2_vdx96h3PnL11hWK40GhnfNLux8"
BODY = b'{"a":1}'
BODY_SHA = "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
SIGNATURE = "dd5756e7b0393b7c6df3cbc4547f1d738d113f31e93a0e484cefa5cd30bef542"
PATH = "/api/v1/terminal/readings"


def test_the_key_is_the_hmac_of_id_and_generation() -> None:
    master = master_secret(MASTER, "ignored")
    assert derive_key(master, "TM-0001", 1) == KEY_TM0001_G1
    assert len(KEY_TM0001_G1) == 43 and "=" not in KEY_TM0001_G1
    # A rotated key is another key; another terminal's too.
    assert derive_key(master, "TM-0001", 2) != KEY_TM0001_G1
    assert derive_key(master, "TM-0002", 1) != KEY_TM0001_G1


def test_the_default_master_is_derived_from_the_auth_secret() -> None:
    derived = master_secret(None, "change-me-demo-secret")
    assert derived.hex() == "7cfcdb3c13e38f36f37a97e3ca963520d705e0735bef0cb42c7da32ca984a822"
    assert derived != b"change-me-demo-secret"
    assert master_secret("", "change-me-demo-secret") == derived  # empty = unset


def test_canonical_request_and_signature() -> None:
    assert body_sha256(BODY) == BODY_SHA
    assert body_sha256(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert canonical_request("post", PATH, 1796600000, "nonce-0001", BODY_SHA) == (
        f"HEALTHMAP-TERMINAL-V1\nPOST\n{PATH}\n1796600000\nnonce-0001\n{BODY_SHA}"
    )
    assert sign(KEY_TM0001_G1, "POST", PATH, 1796600000, "nonce-0001", BODY_SHA) == SIGNATURE
    assert signature_matches(SIGNATURE, SIGNATURE.upper())
    assert not signature_matches(SIGNATURE, SIGNATURE[:-1] + "0")


def test_signed_headers_are_the_client_side() -> None:
    headers = signed_headers(
        "TM-0001", KEY_TM0001_G1, "POST", PATH, BODY, 1796600000.9, "nonce-0001"
    )
    assert headers == {
        HEADER_ID: "TM-0001",
        HEADER_TIMESTAMP: "1796600000",
        HEADER_NONCE: "nonce-0001",
        HEADER_SIGNATURE: SIGNATURE,
    }
    fresh = signed_headers("TM-0001", KEY_TM0001_G1, "POST", PATH, BODY, 1796600000)
    assert NONCE_PATTERN.fullmatch(fresh[HEADER_NONCE]) and fresh[HEADER_NONCE] != new_nonce()


def test_card_tokens() -> None:
    master = master_secret(MASTER, "ignored")
    token = card_token(master, "R000123")
    assert token == "R000123.LQvMHPehZC_pWHtj"
    assert check_card_token(master, token).resident_id == "R000123"
    assert check_card_token(master, f" {token} ").resident_id == "R000123"
    # Another resident's id with this MAC, a changed character, or no MAC at all.
    for bad in ("R000124.LQvMHPehZC_pWHtj", "R000123.LQvMHPehZC_pWHtk", "R000123", ".x"):
        check = check_card_token(master, bad)
        assert check.resident_id is None and check.problem
    # Another master secret makes other tokens.
    assert card_token(master_secret("another-secret", ""), "R000123") != token
