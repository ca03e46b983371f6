"""Entry point of the ``recgpt`` command.

Each pipeline area keeps its commands in its own module under ``recgpt.cli`` and exposes a
``register(app)`` function; this file only wires them together, so areas can grow independently.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="recgpt",
    help="Intent-centric LLM recommendation (RecGPT) on your own data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)



@app.callback()
def _root() -> None:
    """Intent-centric LLM recommendation (RecGPT) on your own data."""


# Modules under recgpt.cli that define register(app). Order is the order of `recgpt --help`.
COMMAND_MODULES = ["data", "llm", "stages", "retrieval", "judge", "pipeline"]

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"recgpt.cli.{_name}")
    except ModuleNotFoundError as exc:  # an area not built yet
        if exc.name != f"recgpt.cli.{_name}":
            raise
        continue
    _module.register(app)


@app.command()
def version() -> None:
    """Print the recgpt version."""
    from recgpt import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
