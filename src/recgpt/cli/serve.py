"""``recgpt serve --run RUN``: the HTTP recommendation API and the chain page over a finished run folder;
``recgpt serve openapi --out FILE``: write the API's OpenAPI document (the committed one is docs/openapi.json)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import typer

log = logging.getLogger("recgpt.serve")


def register(app: typer.Typer) -> None:
    serve_app = typer.Typer(help="Serve a finished run over HTTP: recommendations with explanations, a page.",
                            invoke_without_command=True, no_args_is_help=False)

    @serve_app.callback()
    def serve(
        ctx: typer.Context,
        run: Optional[Path] = typer.Option(None, "--run", help="a finished run folder (or a symlink to one)"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML with a serve: block"),
        host: Optional[str] = typer.Option(None, "--host", help="address to listen on (default 127.0.0.1)"),
        port: Optional[int] = typer.Option(None, "--port", help="port (default 8000)"),
        workers: Optional[int] = typer.Option(None, "--workers", help="server processes (default 1)"),
        settings: list[str] = typer.Option([], "--set", help="KEY=VALUE of the serve block, e.g. max_k=50"),
    ) -> None:
        """Serve RUN: GET /v1/users/{id}/recommendations, POST /v1/recommendations, the page at /ui, ..."""
        if ctx.invoked_subcommand is not None:
            return
        if run is None:
            raise typer.BadParameter("give the run folder: recgpt serve --run RUN", param_hint="--run")
        start(run, _config(config, host, port, workers, settings))

    @serve_app.command("openapi")
    def openapi(
        out: Path = typer.Option(Path("docs/openapi.json"), "--out", help="where to write the document"),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML with a serve: block (limits)"),
    ) -> None:
        """Write the OpenAPI document of the service (its limits from the configuration)."""
        from recgpt.serve.app import openapi_document

        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(openapi_document(_config(config, None, None, None, [])), indent=2) + "\n")
        typer.echo(str(out))

    app.add_typer(serve_app, name="serve")


def _config(path, host, port, workers, settings):
    from recgpt.config import load_block
    from recgpt.serve.config import ServeConfig

    return load_block(ServeConfig, path, block="serve", overrides={"host": host, "port": port, "workers": workers},
                      settings=settings)


def start(run: Path, config) -> None:
    """Load the run (a start-up error names each missing file), then serve it with uvicorn."""
    import uvicorn

    from recgpt.serve.app import ENV_CONFIG, ENV_RUN, create_app

    key = config.resolved_key()
    if not key:
        key = secrets.token_urlsafe(24)
        log.warning("no API key configured (serve.api_key or $%s): using the generated key %s", config.api_key_env,
                    key)
    options = dict(host=config.host, port=config.port, access_log=config.access_log, log_level="info",
                   timeout_graceful_shutdown=10)
    if config.workers == 1:
        uvicorn.run(create_app(run, config, key=key), **options)
        return
    from recgpt.serve.state import ServeState

    ServeState.load(run, config)  # fail here, once, and fill the vector cache the workers read
    metrics_dir = tempfile.mkdtemp(prefix="recgpt-serve-metrics-")
    os.environ.update({ENV_RUN: str(run), ENV_CONFIG: config.model_dump_json(), config.api_key_env: key,
                       "PROMETHEUS_MULTIPROC_DIR": metrics_dir})
    try:
        uvicorn.run("recgpt.serve.app:create_app_from_env", factory=True, workers=config.workers, **options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
