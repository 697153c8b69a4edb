"""Bearer tokens with roles (serving < reader < registrar < admin), configured in `api_tokens`.

With no tokens configured, reads are open to anyone and writes are refused. With tokens,
`POST /online/features` needs any of them (a `serving` token reads online features only)
unless `online_features_open` is set. Pages may carry the token in a cookie instead of a
header; writes accept only the header (no CSRF by cookie). A token is looked up by its
SHA-256 digest: one hash and one dict lookup, in time that does not depend on the token.

The actor the audit log names is the token's configured `name`; without one, it is
`<role>:<HMAC-SHA256 of the token>` keyed by a secret kept in the data dir
(`catalog/actor.key`), so the log never holds anything that helps guess a token.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from featurestore.errors import AuthenticationError, PermissionDeniedError
from featurestore.settings import Role, Settings, TokenConfig

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
        configs = {
            token: config if isinstance(config, TokenConfig) else TokenConfig(role=config)
            for token, config in settings.api_tokens.items()
        }
        secret = (
            server_secret(settings.data_dir / "catalog" / "actor.key")
            if any(config.name is None for config in configs.values())
            else b""
        )
        self._tokens: dict[bytes, Principal] = {
            hashlib.sha256(token.encode()).digest(): Principal(
                config.role, config.name or _anonymous(secret, config.role, token)
            )
            for token, config in configs.items()
        }

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


def _anonymous(secret: bytes, role: Role, token: str) -> str:
    """The audit actor of a token without a name: its role and a keyed hash of it."""
    digest = hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()[:16]
    return f"{role}:{digest}"


def server_secret(path: Path) -> bytes:
    """The server's secret key, created once (owner-only) and shared by every process.

    Written to a private temporary file, then hard-linked into place: a process either
    creates the complete file or finds one, never a half-written one."""
    if path.is_file():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process won the race; use its key
    finally:
        temporary.unlink()
    return path.read_bytes()


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
