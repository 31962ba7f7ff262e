"""The `edgesplit` command line: a thin layer over the library.

Library errors (EdgeError) become one line on stderr and exit code 2, never a traceback.
Subcommands live in their own modules and are imported only when used.
"""

from __future__ import annotations

import importlib
import sys

import click

from . import __version__
from .errors import EdgeError

# command name -> "module:attribute"; modules import lazily so `edgesplit --help` stays fast
COMMANDS = {
    "run": "edge.commands.run:run",
    "chat": "edge.commands.chat:chat",
    "models": "edge.commands.models:models",
    "serve": "edge.commands.serve:serve",
    "profiles": "edge.commands.profiles:profiles",
    "bench": "edge.commands.bench:bench",
    "tune": "edge.commands.tune:tune",
    "cache": "edge.commands.cache:cache",
    "export": "export.cli:export",
    "verify": "export.cli:verify",
    "redact": "cloud_bridge.cli:redact",
    "ledger": "cloud_bridge.cli:ledger",
    "vault": "cloud_bridge.cli:vault",
    "cogenesis": "apps.cogenesis.cli:cogenesis",
    "health": "apps.health.cli:health",
    "agent": "apps.gui_agent.cli:agent",
    "distill": "export.distill.cli:distill",
}


def register_command(name: str, target: str) -> None:
    COMMANDS[name] = target


def _module_exists(module: str) -> bool:
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        present = {name for name, target in COMMANDS.items() if _module_exists(target.partition(":")[0])}
        return sorted(present | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = COMMANDS.get(name)
        if target is None or not _module_exists(target.partition(":")[0]):
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgesplit")
@click.option("--verbose", is_flag=True, help="Show llama.cpp's own log lines on stderr (default: dropped).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """edgesplit: run small language models on this device, with a privacy split to the cloud.

    \b
    Examples:
      edgesplit run "What is the capital of France?"
      edgesplit chat
      edgesplit models
      edgesplit --verbose serve      # with llama.cpp's load and context logs
    """
    if verbose:
        from .runtimes.llamacpp import set_verbose

        previous = set_verbose(True)
        ctx.call_on_close(lambda: set_verbose(previous))  # in-process callers (tests) get their setting back


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="edgesplit", standalone_mode=False)
    except EdgeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
