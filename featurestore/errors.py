"""The exceptions featurestore raises: one root, every message says what to do next.

Every error has an `error_kind`, which says what the caller can do about it and which every entry
point answers the same way (`featurestore.api.errors` maps it to an HTTP status; the CLI
prints one line and exits 1):

- `invalid`: the input is wrong; fix it (HTTP 422).
- `not_found`: a named object does not exist (404).
- `unauthenticated`: no credentials, or unknown ones (401).
- `denied`: the caller or the purpose is not allowed (403).
- `conflict`: the store is not in a state that allows it yet, e.g. no registry (409).
- `too_large`: the request exceeds a configured limit (413).
- `unavailable`: a service did not answer; retrying later may work (503).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Literal

ErrorKind = Literal[
    "invalid", "not_found", "unauthenticated", "denied", "conflict", "too_large", "unavailable"
]


class FeatureStoreError(Exception):
    """Root of every error featurestore raises on purpose."""

    error_kind: ErrorKind = "invalid"
    """What the caller can do about it; a subclass or an instance may narrow it."""

    loc: tuple[str | int, ...] | None = None
    """Where in the caller's input the problem is, when it is in the input."""


class TransientError(FeatureStoreError):
    """A failure that may pass if the same work is retried (a service restarting, a timeout)."""

    error_kind: ErrorKind = "unavailable"


class TerminalError(FeatureStoreError):
    """A failure that retrying the same work cannot fix (bad input, bad definitions)."""


class ConfigError(TerminalError):
    """A setting has a value featurestore cannot use."""

    def __init__(self, name: str, value: object, why: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"Setting `{name}` = `{value}` is not usable: {why}")


class ServiceError(TransientError):
    """An embedded or external service did not start or did not answer."""


class MissingBinaryError(TerminalError):
    """A server binary the embedded services need is not installed."""

    def __init__(self, binary: str, hint: str) -> None:
        self.binary = binary
        super().__init__(f"Cannot find the `{binary}` binary. {hint}")


class MetadataError(TerminalError):
    """A definition in the feature repo lacks catalog metadata or has an invalid value."""

    def __init__(self, object_kind: str, object_name: str, field: str, why: str) -> None:
        self.object_kind = object_kind
        self.object_name = object_name
        self.field = field
        self.why = why
        super().__init__(f"{object_kind} `{object_name}`: `{field}` {why}")


class MetadataErrors(TerminalError):
    """Several metadata problems found at once, so a user fixes them in one pass."""

    def __init__(self, errors: list[MetadataError]) -> None:
        self.errors = errors
        first = str(errors[0])
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        super().__init__(first + more)


class SourceDataError(TerminalError):
    """Input data is missing or not in the shape featurestore expects."""

    error_kind: ErrorKind = "conflict"


class ConflictError(TerminalError):
    """The store's state does not allow the request as asked (e.g. a stale version)."""

    error_kind: ErrorKind = "conflict"


class RegistryMissingError(ConflictError):
    """The Feast registry has not been written yet."""

    def __init__(self, path: object) -> None:
        self.path = path
        super().__init__(
            f"The Feast registry `{path}` does not exist yet; run `featurestore apply` first."
        )


class InvalidInputError(TerminalError):
    """A value the caller sent is not usable; `loc` says where it is."""

    def __init__(self, message: str, loc: tuple[str | int, ...] | None = None) -> None:
        self.loc = loc
        super().__init__(message)


class LimitExceededError(TerminalError):
    """A request is larger than a configured limit."""

    error_kind: ErrorKind = "too_large"

    def __init__(self, what: str, size: int, limit: int, setting: str) -> None:
        self.what = what
        self.size = size
        self.limit = limit
        self.setting = setting
        super().__init__(
            f"The request has {size:,} {what}, more than the limit of {limit:,}; split it "
            f"into smaller requests, or raise `{setting}`."
        )


class RetrievalError(TerminalError):
    """A feature retrieval asked for something that does not exist or cannot be joined."""


class ObjectNotFoundError(TerminalError):
    """A lookup named an object (view, service, feature, entity…) that is not registered;
    given the `known` names, the message suggests the close ones."""

    error_kind: ErrorKind = "not_found"

    def __init__(
        self,
        kind: str,
        name: str,
        hint: str = "",
        *,
        known: Iterable[str] = (),
        project: str = "",
    ) -> None:
        self.kind = kind
        self.name = name
        self.known = tuple(sorted(known))
        self.project = project
        if not hint:
            hint = "check the name, or run `featurestore apply` to register it"
            close = difflib.get_close_matches(name, self.known, n=3)
            if close:
                hint = f"did you mean {', '.join(f'`{c}`' for c in close)}? Otherwise {hint}"
        where = f" in project `{project}`" if project else ""
        super().__init__(f"{kind} `{name}` does not exist{where}; {hint}.")


class AuthenticationError(TerminalError):
    """A request carried no API token, or one that is not configured."""

    error_kind: ErrorKind = "unauthenticated"


class PermissionDeniedError(TerminalError):
    """A caller's role is too low for what it asked to do."""

    error_kind: ErrorKind = "denied"

    def __init__(self, role: str, needed: str, action: str) -> None:
        self.role = role
        self.needed = needed
        self.action = action
        super().__init__(
            f"Role `{role}` may not {action}; it needs role `{needed}`. "
            "Ask an admin for a token with that role."
        )
