"""The exceptions featurestore raises: one root, every message says what to do next."""

from __future__ import annotations


class FeatureStoreError(Exception):
    """Root of every error featurestore raises on purpose."""


class TransientError(FeatureStoreError):
    """A failure that may pass if the same work is retried (a service restarting, a timeout)."""


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


class RetrievalError(TerminalError):
    """A feature retrieval asked for something that does not exist or cannot be joined."""


class ObjectNotFoundError(TerminalError):
    """A catalog lookup named an object that is not registered."""

    def __init__(self, kind: str, name: str, hint: str = "") -> None:
        self.kind = kind
        self.name = name
        hint = hint or "check the name, or run `featurestore apply` to register it"
        super().__init__(f"{kind} `{name}` does not exist; {hint}.")


class AuthenticationError(TerminalError):
    """A request carried no API token, or one that is not configured."""


class PermissionDeniedError(TerminalError):
    """A caller's role is too low for what it asked to do."""

    def __init__(self, role: str, needed: str, action: str) -> None:
        self.role = role
        self.needed = needed
        self.action = action
        super().__init__(
            f"Role `{role}` may not {action}; it needs role `{needed}`. "
            "Ask an admin for a token with that role."
        )
