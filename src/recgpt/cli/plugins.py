"""``recgpt plugins``: every registered extension with its version, where it lives and what it is."""

from __future__ import annotations

from typing import Optional

import typer


def plugins(kind: Optional[str] = typer.Argument(None, help="only this registry: backends, retrievers, indexes, "
                                                           "loaders, executors, trainers")) -> None:
    """List the registered LLM backends, retrievers, vector indexes, data loaders, executors and trainers."""
    from rich.console import Console
    from rich.table import Table

    from recgpt.errors import UnknownNameError
    from recgpt.registry import REGISTRIES

    if kind is not None and kind not in REGISTRIES:
        raise UnknownNameError(f"unknown registry {kind!r}; registries: {', '.join(REGISTRIES)}")
    table = Table(title="recgpt extensions (a name without .vN means its latest version)")
    for column in ("registry", "name", "where", "what"):
        table.add_column(column, overflow="fold")
    for key, registry in REGISTRIES.items():
        if kind is not None and key != kind:
            continue
        rows = registry.describe()
        if not rows:
            table.add_row(key, "(none yet)", f"entry point group {registry.group}", "")
        for name, where, doc in rows:
            table.add_row(key, name, where, doc)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins)
