"""``recgpt llm``: try a backend and a prompt template from the command line.

    recgpt llm --task smoke --vars '{"item": "banana"}' --schema recgpt.llm.smoke:Color
    recgpt llm --prompt "Name three office supplies."
    recgpt llm --backend openai --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-7B-Instruct \\
        --task smoke --vars vars.json
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Optional

import typer

from recgpt.cli.common import BACKEND, BASE_URL, MODEL, THREADS, apply_llm_flags


def _load_vars(text: str | None) -> dict:
    if not text:
        return {}
    path = Path(text)
    source = path.read_text(encoding="utf-8") if not text.lstrip().startswith("{") and path.exists() else text
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        where = str(path) if source is not text else "--vars"
        raise typer.BadParameter(f"{where}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(value, dict):
        raise typer.BadParameter("--vars must be a JSON object of template variables")
    return value


def _load_schema(spec: str):
    """``none`` or ``package.module:ModelClass`` (a pydantic model)."""
    if spec.lower() == "none":
        return None
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise typer.BadParameter("--schema is 'none' or 'package.module:PydanticModel'")
    try:
        model = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise typer.BadParameter(f"--schema {spec}: {exc}") from exc
    return model


def llm(
    task: Optional[str] = typer.Option(None, help="template name (templates/<task>/v<N>.j2)"),
    vars: Optional[str] = typer.Option(None, "--vars", help="template variables: JSON object or a JSON file"),
    prompt: Optional[str] = typer.Option(None, help="a raw prompt instead of a template"),
    version: Optional[str] = typer.Option(None, help="template version, e.g. v1 (default: latest)"),
    schema: str = typer.Option("none", help="'none' or 'package.module:PydanticModel' for a JSON answer"),
    config: Optional[Path] = typer.Option(None, help="YAML file: its llm block (or the whole file) is an LLMConfig"),
    backend: Optional[str] = BACKEND,
    model: Optional[str] = MODEL,
    base_url: Optional[str] = BASE_URL,
    threads: Optional[int] = THREADS,
    max_tokens: int = typer.Option(256, help="answer length limit"),
    cache: Optional[Path] = typer.Option(None, help="SQLite cache file (default: no cache)"),
    usage: Optional[Path] = typer.Option(None, help="append a usage line (JSONL) here"),
) -> None:
    """Render a template (or take --prompt), ask the LLM, print the answer, tokens and latency."""
    from recgpt.config import load_block
    from recgpt.llm.config import LLMConfig
    from recgpt.llm.runtime import LLMRequest, LLMRuntime

    if (task is None) == (prompt is None):
        raise typer.BadParameter("give exactly one of --task or --prompt")
    cfg = load_block(LLMConfig, config, "llm", {"progress": False})
    cfg = apply_llm_flags(cfg, backend, model, base_url, threads)
    request = LLMRequest(
        key="cli", task=task or "raw", variables={"prompt": prompt} if prompt is not None else _load_vars(vars),
        schema=_load_schema(schema), version=version, max_tokens=max_tokens,
    )
    with LLMRuntime(cfg, cache_path=cache, usage_path=usage) as runtime:
        result = runtime.run(request)
    typer.echo(result.text)
    if result.value is not None:
        typer.echo(f"parsed: {result.value.model_dump_json()}", err=True)
    status = "ok" if result.ok else f"FAILED: {result.error}"
    typer.echo(
        f"[{cfg.backend} {result.task} {result.version}] {status}; prompt {result.prompt_tokens} tokens, "
        f"answer {result.completion_tokens} tokens, {result.latency_s:.2f} s, attempts {result.attempts}"
        f"{', cached' if result.cached else ''}",
        err=True,
    )
    if not result.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(name="llm")(llm)
