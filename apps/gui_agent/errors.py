"""Errors of the GUI agent: EdgeError subclasses, so the CLI and server report them cleanly."""

from __future__ import annotations

from edge import EdgeError


class GuiAgentError(EdgeError):
    """Base class of the GUI agent's errors."""


class AppDocError(GuiAgentError):
    """An app documentation file that is malformed: dangling paths, duplicate names, bad types."""


class UnknownAppError(GuiAgentError):
    http_status = 404
    kind = "not_found"


class ScriptError(GuiAgentError):
    """A script stopped by the sandbox; `line` is the 1-based script line (0 when unknown)."""

    def __init__(self, reason: str, line: int = 0, source_line: str = "") -> None:
        self.reason = reason
        self.line = line
        self.source_line = source_line
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{reason}")


class ScriptSyntaxError(ScriptError):
    """Text that does not parse as the script language."""


class SandboxViolation(ScriptError):
    """A construct or call the sandbox does not allow (import, dunder attributes, open, eval...)."""


class LimitExceeded(ScriptError):
    """A step, action, loop, size or time limit was reached."""


class ActionError(ScriptError):
    """An action the UI refused: unknown element, no matching list item, wrong action for the type."""


class SandboxFailure(ScriptError):
    """The sandbox itself failed (its process died or raised): a bug, never the script's fault."""


class ScriptTruncated(ScriptError):
    """A generated script cut by the token budget before it ended: it is not run."""


class SandboxBusyError(GuiAgentError):
    """Every sandbox worker stayed busy too long: the request is refused, to be retried."""

    http_status = 429
    kind = "rate_limit_error"
