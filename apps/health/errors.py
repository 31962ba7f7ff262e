"""Errors of the health app: EdgeError subclasses, so the CLI and server report them cleanly."""

from __future__ import annotations

from edge import EdgeError


class HealthImportError(EdgeError):
    """An export that cannot be read at all (a partial read is a warning, not this)."""


class HealthDataError(EdgeError):
    """Data that is present but cannot be analysed (e.g. no days with any measurement)."""
