"""Entry point of the ``recgpt`` command.

Each area keeps its commands in its own module under ``recgpt.cli`` with a ``register(app)`` function; this
file wires them together, installs the terminal display (log records and progress bars on stderr) and turns
every :class:`~recgpt.errors.RecgptError` into one clear message and an exit code, in one place.
"""

from __future__ import annotations

import importlib

import typer
from typer.core import TyperGroup

from recgpt.errors import RecgptError


class RecgptGroup(TyperGroup):
    """The top-level command group: a RecgptError from any command prints its message, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RecgptError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None


app = typer.Typer(
    name="recgpt",
    help="Intent-centric LLM recommendation (RecGPT) on your own data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    cls=RecgptGroup,
)


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="also show debug messages"),
) -> None:
    """Intent-centric LLM recommendation (RecGPT) on your own data."""
    from recgpt.cli.display import Display

    display = Display(verbose)
    ctx.call_on_close(display.close)


# Modules under recgpt.cli that define register(app). Order is the order of `recgpt --help`.
COMMAND_MODULES = ["data", "llm", "stages", "retrieval", "judge", "align", "seral", "pipeline", "serve", "plugins"]

for _name in COMMAND_MODULES:
    importlib.import_module(f"recgpt.cli.{_name}").register(app)


@app.command()
def version() -> None:
    """Print the recgpt version."""
    from recgpt import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
