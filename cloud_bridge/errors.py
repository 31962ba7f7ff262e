"""Errors of the privacy split; all derive from edge.errors.EdgeError."""

from __future__ import annotations

from edge.errors import EdgeError


class CloudError(EdgeError):
    """The cloud endpoint failed: unreachable, slow, an HTTP error or an answer we cannot parse."""

    http_status = 502
    kind = "cloud_error"


class ListedAnswerError(CloudError):
    """A `/v1/completions` answer to a list of prompts that is not one readable choice per prompt."""


class VaultError(EdgeError):
    """The pseudonym vault cannot be opened: missing or wrong key, unsafe permissions, corrupt file."""


class LedgerError(EdgeError):
    """The outbound ledger cannot be written or read."""


class LedgerDamagedError(LedgerError):
    """The outbound ledger fails verification: nothing is sent until it is inspected and reset."""

    http_status = 409
    kind = "ledger_damaged"


class ProfileFileError(EdgeError):
    """A personal-entities profile file that is missing or malformed."""
