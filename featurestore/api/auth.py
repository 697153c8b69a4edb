"""Bearer tokens with roles (serving < reader < registrar < admin), configured in `api_tokens`.

With no tokens configured, reads are open to anyone and writes are refused. With tokens,
`POST /online/features` needs any of them (a `serving` token reads online features only)
unless `online_features_open` is set. Pages may carry the token in a cookie instead of a
header; writes accept only the header (no CSRF by cookie). A token is looked up by its
SHA-256 digest: one hash and one dict lookup, in time that does not depend on the token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from featurestore.errors import AuthenticationError, PermissionDeniedError
from featurestore.settings import Role, Settings

TOKEN_COOKIE = "featurestore_token"
ROLE_ORDER: tuple[Role, ...] = ("serving", "reader", "registrar", "admin")

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API token from the `api_tokens` setting, sent as `Authorization: Bearer …`.",
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and a stable, non-secret id of the token for the audit log."""

    role: Role
    actor: str

    def require(self, needed: Role, action: str) -> None:
        """Raise PermissionDeniedError unless the role is at least `needed`."""
        if ROLE_ORDER.index(self.role) < ROLE_ORDER.index(needed):
            raise PermissionDeniedError(self.role, needed, action)


ANONYMOUS = Principal("reader", "anonymous")


class Authorizer:
    """Resolves the caller of a request against the configured tokens."""

    def __init__(self, settings: Settings) -> None:
        self._tokens: dict[bytes, Principal] = {}
        for token, role in settings.api_tokens.items():
            digest = hashlib.sha256(token.encode()).digest()
            self._tokens[digest] = Principal(role, f"{role}:{digest.hex()[:10]}")

    @property
    def configured(self) -> bool:
        """Whether any token is configured."""
        return bool(self._tokens)

    def principal(self, token: str | None, *, write: bool) -> Principal:
        """The caller holding `token`; AuthenticationError when it cannot be trusted."""
        if not self._tokens:
            if write:
                raise AuthenticationError(
                    "Writes need an API token and none is configured; set `api_tokens` "
                    '(e.g. FEATURESTORE_API_TOKENS=\'{"<token>": "registrar"}\') and restart.'
                )
            return ANONYMOUS
        if not token:
            raise AuthenticationError(
                "This needs an API token: send `Authorization: Bearer <token>` with a token "
                "from the `api_tokens` setting."
            )
        principal = self._tokens.get(hashlib.sha256(token.encode()).digest())
        if principal is not None:
            return principal
        raise AuthenticationError(
            "The API token is not valid; use one listed in the `api_tokens` setting."
        )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme in any case), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def install_authorizer(app: FastAPI, authorizer: Authorizer) -> None:
    """Make `authorizer` the one the role dependencies below consult."""
    app.state.featurestore_authorizer = authorizer


def _resolve(
    request: Request, credentials: HTTPAuthorizationCredentials | None, needed: Role, action: str
) -> Principal:
    authorizer: Authorizer = request.app.state.featurestore_authorizer
    token = credentials.credentials if credentials else None
    principal = authorizer.principal(token, write=needed != "reader")
    principal.require(needed, action)
    return principal


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def reader(request: Request, credentials: Credentials) -> Principal:
    """Any caller allowed to read (anyone, when no tokens are configured)."""
    return _resolve(request, credentials, "reader", "read the catalog")


def registrar(request: Request, credentials: Credentials) -> Principal:
    """A caller allowed to register metadata and models."""
    return _resolve(request, credentials, "registrar", "register metadata or models")


ReaderDep = Annotated[Principal, Depends(reader)]
RegistrarDep = Annotated[Principal, Depends(registrar)]
