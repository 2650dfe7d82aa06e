"""Login (OAuth2 password flow), token refresh and "who am I"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from service.audit import record_audit
from service.auth import Principal, authenticate, decode_token, issue_token, principal_from_claims
from service.deps import CurrentUser, EngineDep, LimiterDep, SessionDep, SettingsDep, client_address
from service.errors import TooManyRequests, Unauthorized
from service.ratelimit import LoginBackoff, LoginThrottle

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenPair(BaseModel):
    """OAuth2 token response (RFC 6749 §5.1) with the refresh token's lifetime added."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid.")
    refresh_token: str
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid.")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class Me(BaseModel):
    """The caller's account and scope."""

    id: int
    username: str
    role: str
    team_id: str | None
    town_code: str | None


def _pair(principal: Principal, settings: SettingsDep) -> TokenPair:
    access, access_s = issue_token(principal, settings.token_auth, "access")
    refresh, refresh_s = issue_token(principal, settings.token_auth, "refresh")
    return TokenPair(
        access_token=access,
        expires_in=access_s,
        refresh_token=refresh,
        refresh_expires_in=refresh_s,
    )


@router.post("/token", summary="Log in (OAuth2 password flow)")
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    settings: SettingsDep,
    session: SessionDep,
    engine: EngineDep,
    limiter: LimiterDep,
) -> TokenPair:
    """Exchange ``username`` and ``password`` (form fields) for an access and a refresh token.

    401 for wrong credentials; 429 ``account-locked`` after ``auth.max_failed_logins``
    failures, for ``auth.lockout_minutes``; 429 ``too-many-requests`` while the client's
    address backs off after ``auth.address_free_failures`` failures (docs/security.md).
    """
    client = client_address(request)
    limiter.hit(f"client:{client}")
    # In the store, so every worker counts the same failures (service.ratelimit).
    throttle = LoginThrottle(LoginBackoff.of(settings.auth))
    throttle.check(session, client)
    try:
        principal = authenticate(
            session, form.username, form.password, settings.auth, client=client
        )
    except (Unauthorized, TooManyRequests):  # wrong credentials, or an account locked
        throttle.failed(session, client)
        raise
    request.state.user_id = principal.id
    record_audit(engine, action="login", endpoint="POST /auth/token", user=principal, client=client)
    return _pair(principal, settings)


@router.post("/refresh", summary="New tokens for a refresh token")
def refresh(
    request: Request,
    body: RefreshRequest,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> TokenPair:
    """A new access token and a new refresh token, if the account is still enabled and its
    role and scope are unchanged."""
    limiter.hit(f"client:{client_address(request)}")
    claims = decode_token(body.refresh_token, settings.token_auth, "refresh")
    principal = principal_from_claims(request.app.state.reads, claims)
    request.state.user_id = principal.id
    return _pair(principal, settings)


@router.get("/me", summary="The caller's account")
def me(user: CurrentUser) -> Me:
    return Me(
        id=user.id,
        username=user.username,
        role=user.role,
        team_id=user.team_id,
        town_code=user.town_code,
    )
