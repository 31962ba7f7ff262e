"""One error hierarchy for the whole runtime.

Library code raises these; only the CLI (exit code 2, one line) and the server (an OpenAI-style
error object) turn them into messages. Every message says what to do next.
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""

    #: HTTP status the server maps this error to.
    http_status: int = 400
    #: OpenAI-style error type string.
    kind: str = "invalid_request_error"


class ModelNotFoundError(EdgeError):
    http_status = 404
    kind = "model_not_found"


class ModelFormatError(EdgeError):
    """A model file or bundle that is malformed, truncated or of an unsupported kind."""

    kind = "invalid_model"


class BundleIntegrityError(ModelFormatError):
    """A bundle whose files no longer match the hashes in its manifest."""


class InvalidRequestError(EdgeError):
    """Bad generation parameters: empty prompt, max_tokens <= 0, unknown option..."""


class ContextOverflowError(InvalidRequestError):
    kind = "context_length_exceeded"


class SchemaError(InvalidRequestError):
    """An invalid JSON schema for constrained output."""


class UnknownBackendError(EdgeError):
    pass


class BackendUnavailableError(EdgeError):
    """A backend whose Python package is not installed."""

    http_status = 503
    kind = "backend_unavailable"


class ProfileError(EdgeError):
    """A hardware profile that is missing or invalid."""


class MemoryBudgetError(EdgeError):
    """A model that would not fit the profile's memory budget."""


class ExportError(EdgeError):
    """An export that cannot be done; nothing is left in the output path."""


class UnsupportedArchitectureError(ExportError):
    pass


class UnsupportedFeatureError(ExportError):
    """A model feature one export path cannot write (e.g. fused attention with dynamic rope scaling)."""


class ParityError(ExportError):
    """An export or bundle whose logits miss the stated tolerance."""
