"""The ``recgpt`` command line (typer). Each area registers its commands in :mod:`recgpt.cli.main`."""
